"""Offline intent classifier with calibrated confidence, and the shipped default model.

One architecture serves the shipped cold-start model, per-tenant models and the evaluation
harness: word and character TF-IDF n-grams into a linear SVM whose scores are calibrated
into probabilities. Below the confidence threshold the answer is ``unsure`` plus candidates.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import joblib
import numpy as np
import sklearn
from pydantic import BaseModel, ConfigDict, Field
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.svm import LinearSVC

from mspclaw.errors import InvalidInput, MSPclawError
from mspclaw.triage.taxonomy import UNSURE, validate_intent_id

DEFAULT_THRESHOLD = 0.5
DEFAULT_MODEL_PATH = Path(__file__).parent / "data" / "intent_model.joblib"
TOP_K = 3
#: fewest examples of one intent a model can learn from (calibration needs folds of each)
MIN_EXAMPLES_PER_INTENT = 3


class ModelLoadError(MSPclawError):
    """A saved intent model is missing, corrupt or from an incompatible version."""

    code = "intent_model_unloadable"
    status_code = 500


class IntentCandidate(BaseModel):
    """One possible intent with its calibrated probability."""

    model_config = ConfigDict(frozen=True)

    intent: str
    probability: float = Field(ge=0.0, le=1.0)


class IntentPrediction(BaseModel):
    """The answer for one text: an intent (or ``unsure``), confidence and the top candidates."""

    model_config = ConfigDict(frozen=True)

    intent: str
    confidence: float = Field(ge=0.0, le=1.0)
    candidates: list[IntentCandidate]
    model_version: str


class IntentClassifier(Protocol):
    """What triage needs from any intent classifier (offline model now, LLM-assisted later)."""

    @property
    def model_version(self) -> str: ...

    def predict(self, text: str, *, threshold: float | None = None) -> IntentPrediction: ...

    def predict_many(self, texts: Sequence[str], *, threshold: float | None = None) -> list[IntentPrediction]: ...


class ModelParams(BaseModel):
    """Hyper-parameters of the architecture; part of the model version hash."""

    model_config = ConfigDict(frozen=True)

    word_ngrams: tuple[int, int] = (1, 2)
    char_ngrams: tuple[int, int] = (2, 5)
    word_max_features: int | None = 60_000
    char_max_features: int | None = 120_000
    min_df: int = 2
    c: float = 0.3
    calibration_folds: int = 3


def build_pipeline(params: ModelParams | None = None) -> Pipeline:
    """The untrained architecture: word + char_wb TF-IDF (sublinear tf) -> calibrated LinearSVC.

    Character n-grams make it robust to typos and glued words; sublinear tf stops a repeated
    word in a long thread from dominating. Sigmoid calibration on held-out folds turns SVM
    margins into probabilities a confidence threshold can be applied to.
    """
    p = params or ModelParams()
    features = FeatureUnion(
        [
            (
                "word",
                TfidfVectorizer(
                    ngram_range=p.word_ngrams,
                    sublinear_tf=True,
                    min_df=p.min_df,
                    max_features=p.word_max_features,
                    dtype=np.float32,
                ),
            ),
            (
                "char",
                TfidfVectorizer(
                    analyzer="char_wb",
                    ngram_range=p.char_ngrams,
                    sublinear_tf=True,
                    min_df=p.min_df,
                    max_features=p.char_max_features,
                    dtype=np.float32,
                ),
            ),
        ]
    )
    svm = LinearSVC(C=p.c, random_state=0)
    # ensemble=False keeps one SVM (small artefact, fast predict); calibrators are fitted on
    # cross-validated decision values, so confidences are still out-of-sample.
    classifier = CalibratedClassifierCV(svm, method="sigmoid", cv=p.calibration_folds, ensemble=False)
    return Pipeline([("features", features), ("classifier", classifier)])


class _FastScorer:
    """The fitted pipeline's arithmetic without scikit-learn's per-call input validation.

    For one ticket, validation and joblib dispatch inside FeatureUnion and the 17 per-class
    calibrators cost several times the maths itself; single-ticket triage needs < 20 ms p99.
    Built only when the pipeline has exactly the expected shape, so results are identical
    (a test compares it with ``pipeline.predict_proba``).
    """

    def __init__(
        self,
        vectorisers: list[TfidfVectorizer],
        coef: np.ndarray,
        intercept: np.ndarray,
        a: np.ndarray,
        b: np.ndarray,
    ) -> None:
        self.vectorisers = vectorisers
        self.analysers = [v.build_analyzer() for v in vectorisers]
        # One slice of the weight matrix per vectoriser, in FeatureUnion's column order.
        edges = np.cumsum([0, *(len(v.vocabulary_) for v in vectorisers)])
        coef_t = np.ascontiguousarray(coef.T)
        self.coef_blocks = [coef_t[edges[i] : edges[i + 1]] for i in range(len(vectorisers))]
        self.intercept = intercept
        self.a = a
        self.b = b

    @classmethod
    def from_pipeline(cls, pipeline: Pipeline) -> _FastScorer | None:
        features = pipeline.steps[0][1]
        classifier = pipeline.steps[-1][1]
        if not (
            len(pipeline.steps) == 2
            and isinstance(features, FeatureUnion)
            and not features.transformer_weights
            and all(
                isinstance(t, TfidfVectorizer) and t.use_idf and t.norm == "l2" for _, t in features.transformer_list
            )
            and isinstance(classifier, CalibratedClassifierCV)
            and len(classifier.calibrated_classifiers_) == 1
        ):
            return None
        calibrated = classifier.calibrated_classifiers_[0]
        svm = calibrated.estimator
        if (
            calibrated.method != "sigmoid"
            or not isinstance(svm, LinearSVC)
            or list(svm.classes_) != list(classifier.classes_)
            or len(classifier.classes_) < 3  # binary calibration is laid out differently
        ):
            return None
        return cls(
            [t for _, t in features.transformer_list],
            np.asarray(svm.coef_, dtype=np.float64),
            np.asarray(svm.intercept_, dtype=np.float64),
            np.array([c.a_ for c in calibrated.calibrators], dtype=np.float64),
            np.array([c.b_ for c in calibrated.calibrators], dtype=np.float64),
        )

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        decision = np.tile(self.intercept, (len(texts), 1))
        for row, text in enumerate(texts):
            for vectoriser, analyse, coef in zip(self.vectorisers, self.analysers, self.coef_blocks, strict=True):
                indices, weights = self._tfidf(vectoriser, analyse, text)
                if indices.size:
                    decision[row] += weights @ coef[indices]
        # sklearn's sigmoid calibration 1 / (1 + exp(a*d + b)), written overflow-free.
        proba = np.exp(-np.logaddexp(0.0, self.a * decision + self.b))
        total = proba.sum(axis=1, keepdims=True)
        uniform = np.full_like(proba, 1.0 / proba.shape[1])
        return np.asarray(np.divide(proba, total, out=uniform, where=total != 0))

    @staticmethod
    def _tfidf(
        vectoriser: TfidfVectorizer, analyse: Callable[[str], list[str]], text: str
    ) -> tuple[np.ndarray, np.ndarray]:
        """Column indices and l2-normalised tf-idf weights of one text (TfidfVectorizer maths).

        Counting into a dict and gathering only the touched weight rows avoids building a
        sparse matrix per ticket, which costs more than the arithmetic.
        """
        vocabulary = vectoriser.vocabulary_
        counts: dict[int, int] = {}
        for term in analyse(text):
            column = vocabulary.get(term)
            if column is not None:
                counts[column] = counts.get(column, 0) + 1
        indices = np.fromiter(counts.keys(), dtype=np.intp, count=len(counts))
        weights = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
        if vectoriser.sublinear_tf:
            np.log(weights, out=weights)
            weights += 1.0
        weights *= vectoriser.idf_[indices]
        norm = float(np.sqrt(weights @ weights))
        if norm > 0.0:
            weights /= norm
        return indices, weights


def version_for(
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    params: ModelParams | None = None,
    version_prefix: str = "intent",
) -> str:
    """The model_version :func:`train` gives these inputs (a hash: same data, same version)."""
    return f"{version_prefix}-{_version_hash(texts, labels, params or ModelParams())}"


def _version_hash(texts: Sequence[str], labels: Sequence[str], params: ModelParams) -> str:
    digest = hashlib.sha256()
    digest.update(json.dumps(params.model_dump(), sort_keys=True).encode())
    digest.update(sklearn.__version__.encode())
    for text, label in zip(texts, labels, strict=True):
        digest.update(label.encode())
        digest.update(b"\x00")
        digest.update(text.encode("utf-8", "surrogatepass"))
        digest.update(b"\x01")
    return digest.hexdigest()[:12]


class IntentModel:
    """A trained intent classifier: predict, save and load. Thread-safe for prediction."""

    def __init__(
        self,
        pipeline: Pipeline,
        *,
        version: str,
        threshold: float = DEFAULT_THRESHOLD,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.version = version
        self.threshold = threshold
        self.metadata = metadata or {}
        self.intents: list[str] = [str(c) for c in pipeline.classes_]
        self._fast = _FastScorer.from_pipeline(pipeline)

    @property
    def model_version(self) -> str:
        """Stable id of this model (training data + parameters hash)."""
        return self.version

    def predict(self, text: str, *, threshold: float | None = None) -> IntentPrediction:
        """Classify one (normalised) text; ``unsure`` when confidence < threshold."""
        return self.predict_many([text], threshold=threshold)[0]

    def predict_many(self, texts: Sequence[str], *, threshold: float | None = None) -> list[IntentPrediction]:
        """Classify many texts in one vectorised pass (what batch triage uses)."""
        cutoff = self.threshold if threshold is None else threshold
        if not 0.0 <= cutoff <= 1.0:
            raise InvalidInput(f"confidence threshold must be between 0 and 1, got {cutoff}")
        if not texts:
            return []
        probabilities = self.predict_proba(texts)
        k = min(TOP_K, len(self.intents))
        results: list[IntentPrediction] = []
        for row in probabilities:
            order = np.argsort(-row, kind="stable")[:k]
            candidates = [IntentCandidate(intent=self.intents[i], probability=round(float(row[i]), 4)) for i in order]
            best = candidates[0]
            results.append(
                IntentPrediction(
                    intent=best.intent if best.probability >= cutoff else UNSURE,
                    confidence=best.probability,
                    candidates=candidates,
                    model_version=self.version,
                )
            )
        return results

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Calibrated probabilities, one row per text, columns in ``self.intents`` order."""
        if self._fast is not None:
            return self._fast.predict_proba(texts)
        return np.asarray(self.pipeline.predict_proba(list(texts)))

    def size_bytes(self) -> int:
        """Size of the saved artefact (what an MSP stores per tenant)."""
        buffer = io.BytesIO()
        joblib.dump(self._payload(), buffer, compress=("zlib", 6))
        return buffer.tell()

    def _payload(self) -> dict[str, Any]:
        features = self.pipeline.steps[0][1]
        for _, step in getattr(features, "transformer_list", []):
            # A cached id() (memory address) that sklearn recomputes on demand; left in, it
            # makes every rebuild of the same model differ byte-wise.
            vars(step).pop("_stop_words_id", None)
        return {
            "format": 1,
            "pipeline": self.pipeline,
            "version": self.version,
            "threshold": self.threshold,
            "metadata": self.metadata,
            "sklearn": sklearn.__version__,
        }

    def save(self, path: Path) -> Path:
        """Write the model as a zlib-compressed joblib file."""
        path.parent.mkdir(parents=True, exist_ok=True)
        joblib.dump(self._payload(), path, compress=("zlib", 6))
        return path

    @classmethod
    def load(cls, path: Path) -> IntentModel:
        """Load a model written by :meth:`save` (only load files you wrote: it is a pickle)."""
        try:
            payload = joblib.load(path)
        except FileNotFoundError as exc:
            raise ModelLoadError(f"intent model not found at {path}") from exc
        except Exception as exc:  # joblib raises many types for a corrupt pickle
            raise ModelLoadError(f"intent model at {path} could not be read: {exc}") from exc
        if not isinstance(payload, dict) or payload.get("format") != 1:
            raise ModelLoadError(f"{path} is not an MSPclaw intent model")
        if payload.get("sklearn") != sklearn.__version__:
            raise ModelLoadError(
                f"intent model at {path} was built with scikit-learn {payload.get('sklearn')}, "
                f"this install has {sklearn.__version__}; rebuild it "
                "(python scripts/build_intent_model.py)"
            )
        return cls(
            payload["pipeline"],
            version=str(payload["version"]),
            threshold=float(payload["threshold"]),
            metadata=dict(payload.get("metadata") or {}),
        )


def train(
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    params: ModelParams | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    version_prefix: str = "intent",
) -> IntentModel:
    """Train the architecture on (normalised) texts and intent ids; reusable per tenant.

    Labels must be snake_case intent ids (built-in or tenant-added) and every intent needs
    at least MIN_EXAMPLES_PER_INTENT examples, because calibration holds out folds.
    """
    if len(texts) != len(labels):
        raise InvalidInput(f"{len(texts)} texts but {len(labels)} labels")
    counts: dict[str, int] = {}
    for label in labels:
        validate_intent_id(label)
        counts[label] = counts.get(label, 0) + 1
    if len(counts) < 2:
        raise InvalidInput("a classifier needs examples of at least two intents")
    p = params or ModelParams()
    needed = max(MIN_EXAMPLES_PER_INTENT, p.calibration_folds)
    too_few = {label: n for label, n in counts.items() if n < needed}
    if too_few:
        raise InvalidInput(
            f"every intent needs at least {needed} examples; too few for: "
            + ", ".join(f"{k} ({v})" for k, v in sorted(too_few.items())),
            detail={"counts": too_few},
        )
    pipeline = build_pipeline(p)
    pipeline.fit(list(texts), list(labels))
    version = version_for(texts, labels, params=p, version_prefix=version_prefix)
    return IntentModel(
        pipeline,
        version=version,
        threshold=threshold,
        metadata={"examples": len(texts), "intents": dict(sorted(counts.items()))},
    )


@lru_cache(maxsize=1)
def default_model() -> IntentModel:
    """The shipped cold-start model (trained on the seed corpus), loaded once per process."""
    return IntentModel.load(DEFAULT_MODEL_PATH)


# --- LLM-assisted mode: the seam for mspclaw.reasoning ----------------------------------


class LLMIntentAnswer(BaseModel):
    """The structured output an LLM classifier must return (same taxonomy as the offline one)."""

    intent: str
    confidence: float = Field(ge=0.0, le=1.0)
    rationale: str = ""
    model: str = "llm"


#: how much the LLM's answer weighs against the offline distribution when combined
LLM_WEIGHT = 0.5


def combine_with_llm(
    offline: IntentPrediction,
    llm: LLMIntentAnswer | None,
    *,
    allowed_intents: Sequence[str],
    threshold: float = DEFAULT_THRESHOLD,
) -> IntentPrediction:
    """Blend an LLM answer into the offline prediction; never trust an unknown intent.

    The LLM's answer becomes a distribution (its confidence on its intent, the rest spread like
    the offline candidates) mixed with the offline candidates at LLM_WEIGHT. Agreement raises
    confidence, disagreement lowers it, and the same threshold decides ``unsure``; when both
    are confident but disagree the answer is ``unsure``. An answer outside the tenant's
    taxonomy (a hallucinated intent) is ignored.
    """
    if llm is None or llm.intent not in allowed_intents:
        return offline
    offline_dist = {c.intent: c.probability for c in offline.candidates}
    rest = sum(p for i, p in offline_dist.items() if i != llm.intent)
    llm_dist = {
        i: (p / rest) * (1.0 - llm.confidence) if rest else 0.0 for i, p in offline_dist.items() if i != llm.intent
    }
    llm_dist[llm.intent] = llm.confidence
    mixed = {
        i: LLM_WEIGHT * llm_dist.get(i, 0.0) + (1.0 - LLM_WEIGHT) * offline_dist.get(i, 0.0)
        for i in set(offline_dist) | set(llm_dist)
    }
    ranked = sorted(mixed.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_K]
    candidates = [IntentCandidate(intent=i, probability=round(min(1.0, p), 4)) for i, p in ranked]
    best = candidates[0]
    offline_top = offline.candidates[0] if offline.candidates else None
    # Two confident classifiers that disagree: that is exactly when a guess would hurt.
    confident_clash = (
        offline_top is not None
        and offline_top.intent != llm.intent
        and offline_top.probability >= threshold
        and llm.confidence >= threshold
    )
    return IntentPrediction(
        intent=best.intent if best.probability >= threshold and not confident_clash else UNSURE,
        confidence=best.probability,
        candidates=candidates,
        model_version=f"{offline.model_version}+{llm.model}",
    )

"""Text embedding backends for similar-ticket search and duplicate detection.

The default backend is offline, tiny and deterministic (signed feature hashing of words,
word pairs and character trigrams); sentence-transformers is an optional extra, imported lazily.
"""

from __future__ import annotations

import itertools
import math
import os
import re
import zlib
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from mspclaw.errors import MSPclawError

DEFAULT_DIM = 256


class EmbeddingBackendUnavailable(MSPclawError):
    """The configured embedding backend cannot run here (e.g. the extra is not installed)."""

    code = "embedding_backend_unavailable"
    status_code = 503


@runtime_checkable
class EmbeddingBackend(Protocol):
    """Anything that turns texts into fixed-length, L2-normalised vectors."""

    @property
    def name(self) -> str: ...

    @property
    def dim(self) -> int: ...

    def embed(self, texts: Sequence[str]) -> list[list[float]]: ...


_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)
# Function words carry no topic; left in, every English ticket would look alike.
_STOP = frozenset(
    "a an the and or but if of to in on at for from by with about as is are was were be been "
    "am i me my we our you your it its this that these those he she they them their his her "
    "do does did have has had can could would should will shall may might must not no so "
    "please hi hello thanks thank regards dear just also there here what when which who how "
    "get got any all some re fw fwd".split()
)


def _features(text: str) -> dict[str, float]:
    tokens = [t for t in _TOKEN.findall(text.lower()) if t not in _STOP]
    weights: dict[str, float] = {}
    for token in tokens:
        weights["w:" + token] = weights.get("w:" + token, 0.0) + 1.0
        padded = f"<{token}>"
        # Character trigrams tie typos and inflections ("printer"/"printers"/"pritner") together.
        for i in range(len(padded) - 2):
            key = "c:" + padded[i : i + 3]
            weights[key] = weights.get(key, 0.0) + 0.25
    for left, right in itertools.pairwise(tokens):
        key = f"b:{left} {right}"
        weights[key] = weights.get(key, 0.0) + 0.5
    return weights


class HashingEmbedding:
    """Offline default: signed hashing of sublinear feature weights into ``dim`` buckets.

    Deterministic across processes and machines (crc32, not Python's salted hash), needs no
    download, and embeds a ticket in well under a millisecond.
    """

    def __init__(self, dim: int = DEFAULT_DIM) -> None:
        if dim < 16:
            raise ValueError("embedding dimension must be at least 16")
        self._dim = dim

    @property
    def name(self) -> str:
        return f"hashing-v1-{self._dim}"

    @property
    def dim(self) -> int:
        return self._dim

    def embed_one(self, text: str) -> list[float]:
        vector = [0.0] * self._dim
        for feature, weight in _features(text).items():
            h = zlib.crc32(feature.encode("utf-8"))
            sign = 1.0 if (h >> 31) & 1 else -1.0
            vector[h % self._dim] += sign * (1.0 + math.log(weight) if weight >= 1 else weight)
        norm = math.sqrt(sum(v * v for v in vector))
        return [v / norm for v in vector] if norm > 0 else vector

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return [self.embed_one(text) for text in texts]


class SentenceTransformerEmbedding:
    """Optional backend: a sentence-transformers model, from a local folder or the model cache.

    Nothing is downloaded while MSPclaw runs (``HF_HUB_OFFLINE`` is set for the load); a model
    that is neither a folder nor already cached is a clear configuration error.
    """

    def __init__(self, model: str = "sentence-transformers/all-MiniLM-L6-v2") -> None:
        detail = {"backend": "sentence-transformers", "model": model}
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise EmbeddingBackendUnavailable(
                "the sentence-transformers embedding backend needs the optional extra: "
                "pip install 'mspclaw[embeddings]'; the default backend 'hashing' needs nothing",
                detail=detail,
            ) from exc
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            self._model: Any = SentenceTransformer(model, device="cpu")
        except Exception as exc:
            raise EmbeddingBackendUnavailable(
                f"could not load the sentence-transformers model {model!r} ({type(exc).__name__}: {exc}); "
                "set MSPCLAW_EMBEDDING_MODEL to a local model folder (nothing is downloaded at run time)",
                detail=detail,
            ) from exc
        # sentence-transformers 6 renamed the method; 5.x has only the old name
        dimension = (
            getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        )
        self._dim = int(dimension())
        label = re.sub(r"[^A-Za-z0-9._-]+", "-", model.rstrip("/\\").rsplit("/", 1)[-1]) or "model"
        self._name = f"st-{label[:60]}-{self._dim}"

    @property
    def name(self) -> str:
        return self._name

    @property
    def dim(self) -> int:
        return self._dim

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        vectors = self._model.encode(list(texts), normalize_embeddings=True, show_progress_bar=False)
        return [[float(x) for x in row] for row in vectors]


BACKENDS = ("hashing", "sentence-transformers")


def get_backend(
    name: str = "hashing", *, model: str = "sentence-transformers/all-MiniLM-L6-v2", dim: int = DEFAULT_DIM
) -> EmbeddingBackend:
    """Backend by configuration name: 'hashing' (default, ``dim`` wide) or 'sentence-transformers'
    (``model``: a local folder or a cached model name)."""
    if name == "hashing":
        return HashingEmbedding(dim)
    if name == "sentence-transformers":
        return SentenceTransformerEmbedding(model)
    raise EmbeddingBackendUnavailable(f"unknown embedding backend {name!r}; choose one of {', '.join(BACKENDS)}")


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    """Cosine similarity (vectors need not be normalised)."""
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    na = math.sqrt(sum(x * x for x in a))
    nb = math.sqrt(sum(y * y for y in b))
    return dot / (na * nb) if na and nb else 0.0

"""Per-tenant intent models: which model triages a tenant's tickets, and retraining one from
the tenant's technician-confirmed labels (plus a slice of the seed corpus, so intents the
tenant never labelled are still known). The shipped model is the cold start.
"""

from __future__ import annotations

import asyncio
import random
import tempfile
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Uuid, bindparam, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from mspclaw.database.base import utcnow
from mspclaw.errors import InvalidInput
from mspclaw.triage.models import IntentLabel, TenantIntentModel

if TYPE_CHECKING:  # scikit-learn loads only when a model is first needed
    from mspclaw.triage.classifier import IntentClassifier, IntentModel

#: A tenant model is trained once the tenant has this many confirmed tickets ...
MIN_LABELS_PER_INTENT = 5
#: ... for at least this many intents; below that the shipped model stays.
MIN_INTENTS = 2
#: Seed examples per intent mixed into a tenant's training set (keeps every intent known).
SEED_PER_INTENT = 30
#: A tenant's own label counts this many times in training, so its wording outweighs the seed.
TENANT_WEIGHT = 3
SEED_RNG = 42


class NotEnoughLabels(InvalidInput):
    """The tenant has too few confirmed tickets for its own model."""

    code = "not_enough_labels"


@dataclass(frozen=True)
class ModelChoice:
    """The model that triages a tenant's tickets and where it came from."""

    model: IntentClassifier
    source: str  # "shipped" or "tenant"
    #: the tenant's confidence threshold; None: the model's own
    threshold: float | None = None


#: tenant id -> (stored model id, loaded model); a new training replaces the entry.
_CACHE: dict[uuid.UUID, tuple[uuid.UUID, IntentModel]] = {}


def requirement() -> str:
    """The readiness rule in words (shown by the API)."""
    return f">= {MIN_LABELS_PER_INTENT} confirmed tickets for >= {MIN_INTENTS} intents"


def ready(counts: dict[str, int]) -> bool:
    """Whether the label counts are enough for a tenant model."""
    return sum(1 for n in counts.values() if n >= MIN_LABELS_PER_INTENT) >= MIN_INTENTS


async def label_counts(session: AsyncSession, *, tenant_id: uuid.UUID) -> dict[str, int]:
    """Confirmed tickets per intent for one tenant."""
    rows = await session.execute(
        select(IntentLabel.intent, func.count())
        .where(IntentLabel.tenant_id == tenant_id)
        .group_by(IntentLabel.intent)
        .order_by(IntentLabel.intent)
    )
    return {str(intent): int(n) for intent, n in rows.all()}


async def latest(session: AsyncSession, *, tenant_id: uuid.UUID) -> TenantIntentModel | None:
    """The tenant's newest trained model row (with its bytes)."""
    stmt = (
        select(TenantIntentModel)
        .where(TenantIntentModel.tenant_id == tenant_id)
        .order_by(TenantIntentModel.trained_at.desc())
        .limit(1)
    )
    return (await session.execute(stmt)).scalars().first()


#: Runs on every triage: one round trip for both the newest model's id and the threshold.
_CHOICE_SQL = text(
    """
    SELECT (SELECT m.id FROM triage_tenant_models m WHERE m.tenant_id = :tenant
             ORDER BY m.trained_at DESC LIMIT 1) AS model_id,
           (SELECT s.threshold FROM triage_settings s WHERE s.tenant_id = :tenant) AS threshold
    """
).bindparams(bindparam("tenant", type_=Uuid()))


async def model_for(session: AsyncSession, *, tenant_id: uuid.UUID) -> ModelChoice:
    """The tenant's newest model, else the shipped one, and the tenant's threshold; a stored
    model's bytes are loaded only when a newer one appears."""
    newest, threshold = (await session.execute(_CHOICE_SQL, {"tenant": tenant_id})).one()
    if newest is None:
        from mspclaw.triage.classifier import default_model

        return ModelChoice(default_model(), "shipped", threshold)
    cached = _CACHE.get(tenant_id)
    if cached is None or cached[0] != newest:
        row = await session.get(TenantIntentModel, newest)
        assert row is not None and row.tenant_id == tenant_id
        cached = (newest, loads(row.model))
        _CACHE[tenant_id] = cached
    return ModelChoice(cached[1], "tenant", threshold)


def dumps(model: IntentModel) -> bytes:
    """Serialise a model exactly as :meth:`IntentModel.save` writes it, as bytes."""
    with tempfile.TemporaryDirectory() as folder:
        return model.save(Path(folder) / "model.joblib").read_bytes()


def loads(data: bytes) -> IntentModel:
    """Load bytes written by :func:`dumps` (only ever our own rows: it is a pickle); the
    loader refuses a model built by another scikit-learn version."""
    from mspclaw.triage.classifier import IntentModel

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.joblib"
        path.write_bytes(data)
        return IntentModel.load(path)


@lru_cache(maxsize=4)
def _seed_texts(per_intent: int) -> tuple[tuple[str, str], ...]:
    """A fixed, stratified sample of the seed corpus, normalised (loaded lazily, cached)."""
    from mspclaw.triage.normalise import normalise_ticket
    from mspclaw.triage.seed_corpus import load_corpus

    by_intent: dict[str, list[tuple[str, str]]] = {}
    for example in load_corpus():
        by_intent.setdefault(example.intent, []).append((example.subject, example.body))
    rng = random.Random(SEED_RNG)
    sample: list[tuple[str, str]] = []
    for intent in sorted(by_intent):
        picked = rng.sample(by_intent[intent], min(per_intent, len(by_intent[intent])))
        sample += [(normalise_ticket(s, b).text, intent) for s, b in picked]
    return tuple(sample)


def _split(labels: Sequence[tuple[str, str]]) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Stratified 80/20 split of the tenant's labels (every intent keeps >= 1 in training)."""
    rng = random.Random(SEED_RNG)
    by_intent: dict[str, list[tuple[str, str]]] = {}
    for sample, intent in labels:
        by_intent.setdefault(intent, []).append((sample, intent))
    fit: list[tuple[str, str]] = []
    held: list[tuple[str, str]] = []
    for intent in sorted(by_intent):
        rows = by_intent[intent]
        rng.shuffle(rows)
        n_held = len(rows) // 5 if len(rows) >= MIN_LABELS_PER_INTENT else 0
        held += rows[:n_held]
        fit += rows[n_held:]
    return fit, held


def _fit(tenant_rows: Sequence[tuple[str, str]], seed: Sequence[tuple[str, str]], tenant_id: uuid.UUID) -> IntentModel:
    from mspclaw.triage.classifier import default_model, train

    rows = list(seed) + [row for row in tenant_rows for _ in range(TENANT_WEIGHT)]
    return train(
        [t for t, _ in rows],
        [i for _, i in rows],
        threshold=default_model().threshold,
        version_prefix=f"tenant-{str(tenant_id)[:8]}",
    )


def _accuracy(model: IntentClassifier, rows: Sequence[tuple[str, str]]) -> float | None:
    if not rows:
        return None
    predictions = model.predict_many([t for t, _ in rows], threshold=0.0)
    return round(sum(p.intent == i for p, (_, i) in zip(predictions, rows, strict=True)) / len(rows), 4)


def train_tenant_model(
    labels: Sequence[tuple[str, str]], *, tenant_id: uuid.UUID, seed_per_intent: int = SEED_PER_INTENT
) -> tuple[IntentModel, dict[str, Any]]:
    """Train a tenant model from (normalised text, intent) labels; returns it and its metrics.

    Metrics compare the shipped and the new model on a held-out fifth of the tenant's own
    labels (a model trained on the rest), then the returned model is fitted on all labels.
    """
    counts = dict(sorted(Counter(i for _, i in labels).items()))
    if not ready(counts):
        raise NotEnoughLabels(f"a tenant model needs {requirement()}; have {counts}", detail={"label_counts": counts})
    seed = _seed_texts(seed_per_intent) if seed_per_intent > 0 else ()
    fit, held = _split(labels)
    from mspclaw.triage.classifier import default_model

    metrics: dict[str, Any] = {"label_counts": counts, "seed_per_intent": seed_per_intent, "holdout": len(held)}
    if held:
        probe = _fit(fit, seed, tenant_id)
        metrics["holdout_accuracy"] = _accuracy(probe, held)
        metrics["shipped_holdout_accuracy"] = _accuracy(default_model(), held)
    model = _fit(labels, seed, tenant_id)
    metrics["trained_at"] = utcnow().isoformat()
    return model, metrics


async def retrain(
    session: AsyncSession, *, tenant_id: uuid.UUID, seed_per_intent: int | None = None
) -> TenantIntentModel:
    """Train and store a new model for ``tenant_id`` from its labels only (never another's)."""
    rows = (
        await session.execute(
            select(IntentLabel.text, IntentLabel.intent)
            .where(IntentLabel.tenant_id == tenant_id)
            .order_by(IntentLabel.ticket_id)
        )
    ).all()
    labels = [(str(t), str(i)) for t, i in rows]
    # Training takes a second or more of CPU: keep the event loop (other jobs, the API) free.
    model, metrics = await asyncio.to_thread(
        train_tenant_model,
        labels,
        tenant_id=tenant_id,
        seed_per_intent=SEED_PER_INTENT if seed_per_intent is None else seed_per_intent,
    )
    model_bytes = await asyncio.to_thread(dumps, model)
    metrics["size_bytes"] = len(model_bytes)
    stored = TenantIntentModel(
        tenant_id=tenant_id,
        version=model.version,
        model=model_bytes,
        metrics=metrics,
        examples=len(labels),
        trained_at=utcnow(),
    )
    session.add(stored)
    await session.flush()
    _CACHE[tenant_id] = (stored.id, model)
    return stored

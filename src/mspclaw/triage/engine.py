"""Offline triage of ticket text: normalise, classify intent, score urgency.

This is the pure, database-free core that the triage job, ``POST /api/v1/triage`` and the
``mspclaw triage`` batch command share; client context and similar tickets are added on top.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from mspclaw.triage.classifier import IntentCandidate, IntentClassifier, default_model
from mspclaw.triage.normalise import NormalisedTicket, normalise_ticket
from mspclaw.triage.urgency import Priority, UrgencyFactor, UrgencySignals, score_urgency


class TicketText(BaseModel):
    """One ticket to triage, as in a batch file line or an ad-hoc API call."""

    model_config = ConfigDict(extra="ignore")

    subject: str = ""
    body: str = ""
    client: str | None = None


class TriageResult(BaseModel):
    """Everything the offline triage decided about one ticket, and which model decided it."""

    model_config = ConfigDict(frozen=True)

    intent: str
    confidence: float = Field(ge=0.0, le=1.0)
    candidates: list[IntentCandidate]
    urgency: int = Field(ge=0, le=100)
    priority: Priority
    urgency_factors: list[UrgencyFactor]
    language: str
    language_confidence: float
    normalised_text: str
    model_version: str
    client: str | None = None


def triage_text(
    subject: str,
    body: str,
    client: str | None = None,
    *,
    model: IntentClassifier | None = None,
    signals: UrgencySignals | None = None,
    threshold: float | None = None,
) -> TriageResult:
    """Triage one ticket; ``model`` defaults to the shipped model, ``threshold`` to the model's."""
    ticket = TicketText(subject=subject, body=body, client=client)
    return triage_many([ticket], model=model, signals=[signals], threshold=threshold)[0]


def triage_many(
    tickets: Sequence[TicketText],
    *,
    model: IntentClassifier | None = None,
    signals: Sequence[UrgencySignals | None] | None = None,
    threshold: float | None = None,
) -> list[TriageResult]:
    """Triage many tickets, classifying them in one vectorised pass (batch throughput)."""
    classifier = model or default_model()
    normalised: list[NormalisedTicket] = [normalise_ticket(t.subject, t.body) for t in tickets]
    predictions = classifier.predict_many([n.text for n in normalised], threshold=threshold)
    per_ticket_signals = list(signals) if signals is not None else [None] * len(tickets)
    results: list[TriageResult] = []
    for ticket, norm, prediction, signal in zip(
        tickets, normalised, predictions, per_ticket_signals, strict=True
    ):
        urgency = score_urgency(norm.text, signal)
        results.append(
            TriageResult(
                intent=prediction.intent,
                confidence=prediction.confidence,
                candidates=prediction.candidates,
                urgency=urgency.score,
                priority=urgency.priority,
                urgency_factors=urgency.factors,
                language=norm.language,
                language_confidence=norm.language_confidence,
                normalised_text=norm.text,
                model_version=prediction.model_version,
                client=ticket.client,
            )
        )
    return results

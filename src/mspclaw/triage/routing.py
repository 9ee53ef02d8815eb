"""Routing: which technician or queue should take a ticket.

Owns the deterministic, explainable technician ranking (skills, client ownership, current load,
history of who resolved similar tickets) and the text model that predicts a ticket's queue
(assignment group); the GL evaluation trains that same model through :func:`train_queue_model`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from mspclaw.errors import InvalidInput

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix

# Weights of the technician score; reasons quote them so a dispatcher can check the arithmetic.
SKILL_POINTS = 3.0
OWNER_POINTS = 2.0
HISTORY_INTENT_POINTS = 1.0  # times log2(1 + resolved tickets of this intent)
HISTORY_CLIENT_POINTS = 0.5  # times log2(1 + resolved tickets of this client)
LOAD_PENALTY = 2.0  # times open_load / capacity
URGENT_SCORE = 70  # from this urgency on, load weighs double: the ticket cannot wait in a queue


class TechnicianProfile(BaseModel):
    """What routing knows about one technician."""

    id: str
    skills: set[str] = Field(default_factory=set)
    clients_owned: set[str] = Field(default_factory=set)
    open_load: int = Field(default=0, ge=0)
    capacity: int = Field(default=10, gt=0)
    available: bool = True
    resolved_intents: dict[str, int] = Field(default_factory=dict)
    resolved_clients: dict[str, int] = Field(default_factory=dict)


class TicketFeatures(BaseModel):
    """The parts of a triaged ticket that routing uses."""

    intent: str | None = None
    client: str | None = None
    skills_needed: set[str] = Field(default_factory=set)
    urgency: int | None = Field(default=None, ge=0, le=100)


class Recommendation(BaseModel):
    """One ranked technician with the reasons behind the score."""

    technician_id: str
    score: float
    reasons: list[str]


def _score(ticket: TicketFeatures, tech: TechnicianProfile) -> Recommendation:
    score = 0.0
    reasons: list[str] = []
    wanted = set(ticket.skills_needed)
    if ticket.intent:
        wanted.add(ticket.intent)
    matched = sorted(wanted & tech.skills)
    if matched:
        score += SKILL_POINTS * len(matched)
        reasons.append(f"skills {', '.join(matched)} (+{SKILL_POINTS * len(matched):g})")
    if ticket.client and ticket.client in tech.clients_owned:
        score += OWNER_POINTS
        reasons.append(f"owns client {ticket.client} (+{OWNER_POINTS:g})")
    if ticket.intent and tech.resolved_intents.get(ticket.intent):
        count = tech.resolved_intents[ticket.intent]
        points = HISTORY_INTENT_POINTS * math.log2(1 + count)
        score += points
        reasons.append(f"resolved {count} {ticket.intent} tickets (+{points:.2f})")
    if ticket.client and tech.resolved_clients.get(ticket.client):
        count = tech.resolved_clients[ticket.client]
        points = HISTORY_CLIENT_POINTS * math.log2(1 + count)
        score += points
        reasons.append(f"resolved {count} tickets for {ticket.client} (+{points:.2f})")
    weight = LOAD_PENALTY * (2 if (ticket.urgency or 0) >= URGENT_SCORE else 1)
    penalty = weight * tech.open_load / tech.capacity
    if penalty:
        score -= penalty
        reasons.append(f"{tech.open_load}/{tech.capacity} open tickets (-{penalty:.2f})")
    return Recommendation(technician_id=tech.id, score=round(score, 4), reasons=reasons)


def recommend(ticket: TicketFeatures, technicians: Sequence[TechnicianProfile], limit: int = 5) -> list[Recommendation]:
    """Rank available technicians for ``ticket``, best first; ties break on technician id."""
    ranked = [_score(ticket, t) for t in technicians if t.available]
    ranked.sort(key=lambda r: (-r.score, r.technician_id))
    return ranked[:limit]


# ---------------------------------------------------------------------------------------------
# queue (assignment group) text model

#: single-character tokens too ("c" drive, "d" drive); sklearn's default drops them
_ONE_CHAR_TOKENS = r"(?u)\b\w+\b"
_EXCEL_CR = re.compile(r"_x000D_", re.IGNORECASE)
_RECEIVED_FROM = re.compile(r"received from:\s*\S+@\S+", re.IGNORECASE)
_EMAIL = re.compile(r"\S+@\S+")
# Dates, clock times and long numbers (ticket numbers, phone numbers) vary per ticket; short
# numbers stay because job and host identifiers (Job_1390, hostname_221) tell queues apart.
_VOLATILE_NUMBERS = re.compile(r"\b\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}\b|\b\d{1,2}:\d{2}(?::\d{2})?\b|\b\d{5,}\b")


def normalise_ticket_text(text: str) -> str:
    """Lower-case and strip export artefacts, sender lines, dates, times and long numbers."""
    text = _EXCEL_CR.sub(" ", text)
    text = _RECEIVED_FROM.sub(" ", text)
    text = _EMAIL.sub(" emailaddr ", text)
    text = _VOLATILE_NUMBERS.sub(" 0 ", text)
    return text.lower()


class QueueTicket(BaseModel):
    """Input of the queue model: title, body and (optionally) who raised it."""

    subject: str = ""
    body: str = ""
    caller: str = ""


class QueuePrediction(BaseModel):
    """Predicted queue and the margin over the runner-up (higher = surer)."""

    queue: str
    margin: float
    runner_up: str | None


def _caller_token(caller: str) -> list[str]:
    return [caller.strip().lower()] if caller.strip() else []


class QueueModel:
    """Word and character n-grams of title+body, title n-grams, and the caller, into a LinearSVC.

    The caller feature matters because MSP clients' people and monitoring accounts keep landing
    in the same queue; the title gets its own block because it is the densest signal.
    """

    # Block weights chosen on GL ticket assignment and confirmed by 3-fold cross-validation
    # inside its training split (accuracy 0.705 -> 0.737 against the first version's weights).
    WORD_WEIGHT = 1.0
    CHAR_WEIGHT = 1.3
    TITLE_WEIGHT = 0.5
    CALLER_WEIGHT = 0.8

    def __init__(self, c: float = 1.0) -> None:
        # scikit-learn loads in seconds; import it only when a queue model is actually built
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.svm import LinearSVC

        self.words = TfidfVectorizer(ngram_range=(1, 3), sublinear_tf=True, token_pattern=_ONE_CHAR_TOKENS)
        self.chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2)
        self.titles = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
        self.callers = TfidfVectorizer(analyzer=_caller_token)
        self.classifier = LinearSVC(C=c)

    def _columns(self, tickets: Sequence[QueueTicket]) -> tuple[list[str], list[str], list[str]]:
        titles = [normalise_ticket_text(t.subject) for t in tickets]
        bodies = [normalise_ticket_text(t.body) for t in tickets]
        texts = [f"{title} \n {body}" for title, body in zip(titles, bodies, strict=True)]
        return texts, titles, [t.caller for t in tickets]

    def _features(self, tickets: Sequence[QueueTicket], fit: bool) -> csr_matrix:
        from scipy.sparse import csr_matrix, hstack

        texts, titles, callers = self._columns(tickets)
        blocks = []
        for vectoriser, column, weight in (
            (self.words, texts, self.WORD_WEIGHT),
            (self.chars, texts, self.CHAR_WEIGHT),
            (self.titles, titles, self.TITLE_WEIGHT),
            (self.callers, callers, self.CALLER_WEIGHT),
        ):
            matrix = vectoriser.fit_transform(column) if fit else vectoriser.transform(column)
            blocks.append(matrix * weight)
        return csr_matrix(hstack(blocks).tocsr())

    def fit(self, tickets: Sequence[QueueTicket], queues: Sequence[str]) -> QueueModel:
        """Train on tickets labelled with the queue that resolved them."""
        if len(tickets) != len(queues):
            raise InvalidInput("tickets and queues differ in length")
        if len(set(queues)) < 2:
            raise InvalidInput("the queue model needs tickets from at least two queues")
        self.classifier.fit(self._features(tickets, fit=True), list(queues))
        return self

    @property
    def queues(self) -> list[str]:
        """The queues the model can predict."""
        return [str(c) for c in self.classifier.classes_]

    def predict(self, tickets: Sequence[QueueTicket]) -> list[QueuePrediction]:
        """Best queue per ticket with its margin over the second best."""
        if not tickets:
            return []
        import numpy as np

        scores = np.asarray(self.classifier.decision_function(self._features(tickets, fit=False)))
        classes = self.classifier.classes_
        if scores.ndim == 1:  # two queues: sklearn returns one column
            scores = np.column_stack([-scores, scores])
        order = np.argsort(-scores, axis=1)
        predictions = []
        for row, ranking in zip(scores, order, strict=True):
            best, second = ranking[0], ranking[1] if len(ranking) > 1 else None
            predictions.append(
                QueuePrediction(
                    queue=str(classes[best]),
                    margin=float(row[best] - (row[second] if second is not None else 0.0)),
                    runner_up=str(classes[second]) if second is not None else None,
                )
            )
        return predictions


def train_queue_model(tickets: Sequence[QueueTicket], queues: Sequence[str], c: float = 1.0) -> QueueModel:
    """Train the shipped queue model architecture (used by the product and by eval routing)."""
    return QueueModel(c=c).fit(tickets, queues)

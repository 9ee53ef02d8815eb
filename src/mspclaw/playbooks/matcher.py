"""Matching playbooks to a triaged ticket: intent first, then whole-word keywords, alert kind,
OS and client scope. Ranking is deterministic: score, then declared priority, then how
specific the triggers are, then id. Each candidate carries the reasons it scored.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from typing import TYPE_CHECKING

from pydantic import BaseModel

from mspclaw.playbooks.loader import LoadedPlaybook
from mspclaw.playbooks.models import ClientInfo, ContactInfo, DeviceInfo, Playbook, TicketContext, TicketInfo
from mspclaw.triage.taxonomy import UNSURE

if TYPE_CHECKING:  # the engine pulls in scikit-learn; matching must stay cheap to import
    from mspclaw.triage.engine import TriageResult

INTENT_SCORE = 100
ALERT_SCORE = 60
CLIENT_SCORE = 20
OS_SCORE = 5
KEYWORD_SCORE = 10
KEYWORD_CAP = 3  # keywords refine; they never outweigh a matching intent


class MatchCandidate(BaseModel):
    """One playbook that fits the ticket, with its score and why."""

    playbook_id: str
    version: str
    title: str
    score: int
    priority: int
    specificity: int
    mode: str
    reasons: list[str]


@lru_cache(maxsize=4096)
def keyword_pattern(keyword: str) -> re.Pattern[str]:
    """Whole-word, case-insensitive pattern; inner whitespace matches any whitespace run."""
    words = [re.escape(w) for w in keyword.split()]
    return re.compile(r"(?<!\w)" + r"\s+".join(words) + r"(?!\w)", re.IGNORECASE)


def keyword_matches(keyword: str, text: str) -> bool:
    """True if ``keyword`` appears in ``text`` as a whole word/phrase ("print" ≠ "sprint")."""
    return keyword_pattern(keyword).search(text) is not None


def specificity(playbook: Playbook) -> int:
    """How narrowly the triggers are scoped: more constraints = more specific."""
    t = playbook.triggers
    return (3 if t.clients else 0) + (2 if t.alert_kinds else 0) + (1 if t.os else 0) + (1 if t.intents else 0)


def score_playbook(playbook: Playbook, context: TicketContext) -> MatchCandidate | None:
    """The candidate for ``playbook``, or None if it does not apply to this ticket."""
    t = playbook.triggers
    ticket = context.ticket
    reasons: list[str] = []
    score = 0
    if t.clients:
        client_keys = {k for k in (context.client.id, context.client.name) if k}
        if not client_keys & set(t.clients):
            return None
        score += CLIENT_SCORE
        reasons.append("limited to this client")
    if t.os and context.device.os is not None:
        if context.device.os not in t.os:
            return None
        score += OS_SCORE
        reasons.append(f"device OS {context.device.os} is supported")
    relevant = False
    if ticket.intent and ticket.intent in t.intents:
        score += INTENT_SCORE
        relevant = True
        reasons.append(f"intent {ticket.intent}")
    if ticket.alert_kind and ticket.alert_kind in t.alert_kinds:
        score += ALERT_SCORE
        relevant = True
        reasons.append(f"alert kind {ticket.alert_kind}")
    text = f"{ticket.subject}\n{ticket.body}"
    hits = [k for k in t.keywords if keyword_matches(k, text)]
    if hits:
        score += KEYWORD_SCORE * min(len(hits), KEYWORD_CAP)
        relevant = True
        reasons.append("keywords: " + ", ".join(hits))
    if not relevant:
        return None
    return MatchCandidate(
        playbook_id=playbook.id,
        version=playbook.version,
        title=playbook.title,
        score=score,
        priority=playbook.priority,
        specificity=specificity(playbook),
        mode=playbook.mode,
        reasons=reasons,
    )


def match_playbooks(playbooks: Iterable[Playbook | LoadedPlaybook], context: TicketContext) -> list[MatchCandidate]:
    """Candidates for the ticket, best first, ties broken by priority, specificity, id."""
    candidates = []
    for item in playbooks:
        playbook = item.playbook if isinstance(item, LoadedPlaybook) else item
        candidate = score_playbook(playbook, context)
        if candidate is not None:
            candidates.append(candidate)
    candidates.sort(key=lambda c: (-c.score, -c.priority, -c.specificity, c.playbook_id))
    return candidates


def context_from_triage(
    subject: str,
    body: str,
    result: TriageResult,
    *,
    ticket_id: str | None = None,
    alert_kind: str | None = None,
    contact: ContactInfo | None = None,
    device: DeviceInfo | None = None,
    client: ClientInfo | None = None,
) -> TicketContext:
    """The matcher's view of a ticket that triage has classified.

    An "unsure" intent is not an intent: such a ticket can still match on keywords or its
    alert kind, never on a guessed intent.
    """
    return TicketContext(
        ticket=TicketInfo(
            id=ticket_id,
            subject=subject,
            body=body,
            intent=None if result.intent == UNSURE else result.intent,
            intent_confidence=result.confidence,
            priority=result.priority,
            alert_kind=alert_kind,
        ),
        contact=contact or ContactInfo(),
        device=device or DeviceInfo(),
        client=client or ClientInfo(id=result.client),
    )

"""How well automation resolves tickets: per playbook and per client, runs succeeded/failed, how
they started (by the loop, by a person) and whether a human approved a step, what end users said,
and the median time from ticket to resolution. Read by ``GET /api/v1/stats`` and ``mspclaw stats``.
"""

from __future__ import annotations

import statistics
import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mspclaw.errors import InvalidInput
from mspclaw.loop.models import RunFeedback
from mspclaw.runs.models import Approval, Run
from mspclaw.tenancy.models import Client
from mspclaw.tickets.models import Ticket

FAILED = frozenset({"failed", "rolled_back"})


class Outcomes(BaseModel):
    """One row of the report."""

    key: str
    name: str
    runs: int = 0
    succeeded: int = 0
    failed: int = 0
    cancelled: int = 0
    open: int = 0
    success_rate: float | None = None
    auto: int = 0
    manual: int = 0
    approved: int = 0
    feedback_yes: int = 0
    feedback_no: int = 0
    feedback_partial: int = 0
    median_minutes_to_resolution: float | None = None


class Stats(BaseModel):
    since: datetime | None
    total: Outcomes
    playbooks: list[Outcomes]
    clients: list[Outcomes]


class _Tally:
    def __init__(self, key: str, name: str) -> None:
        self.row = Outcomes(key=key, name=name)
        self.minutes: list[float] = []

    def add(self, run: Run, *, approved: bool, answers: Iterable[str], minutes: float | None) -> None:
        row = self.row
        row.runs += 1
        if run.status == "succeeded":
            row.succeeded += 1
        elif run.status in FAILED:
            row.failed += 1
        elif run.status == "cancelled":
            row.cancelled += 1
        else:
            row.open += 1
        if run.requested_by_type == "automation":
            row.auto += 1
        else:
            row.manual += 1
        row.approved += int(approved)
        for answer in answers:
            setattr(row, f"feedback_{answer}", getattr(row, f"feedback_{answer}") + 1)
        if minutes is not None:
            self.minutes.append(minutes)

    def done(self) -> Outcomes:
        finished = self.row.succeeded + self.row.failed
        self.row.success_rate = round(self.row.succeeded / finished, 4) if finished else None
        self.row.median_minutes_to_resolution = round(statistics.median(self.minutes), 2) if self.minutes else None
        return self.row


async def compute(session: AsyncSession, *, since: datetime | None = None) -> Stats:
    """The report for the session's tenant, over runs created at or after ``since``."""
    query = select(Run)
    if since is not None:
        query = query.where(Run.created_at >= since)
    runs = list((await session.scalars(query)).all())
    ids = [r.id for r in runs]
    approved = (
        set(
            (
                await session.scalars(
                    select(Approval.run_id).where(Approval.run_id.in_(ids), Approval.status == "approved")
                )
            ).all()
        )
        if ids
        else set()
    )
    answers: dict[uuid.UUID, list[str]] = defaultdict(list)
    if ids:
        for run_id, answer in (
            await session.execute(select(RunFeedback.run_id, RunFeedback.answer).where(RunFeedback.run_id.in_(ids)))
        ).all():
            answers[run_id].append(answer)
    ticket_ids = {_uuid(r.ticket_ref) for r in runs} - {None}
    opened: dict[uuid.UUID, datetime] = {}
    if ticket_ids:
        rows = await session.execute(
            select(Ticket.id, Ticket.vendor_created_at, Ticket.created_at).where(Ticket.id.in_(ticket_ids))
        )
        opened = {tid: vendor or local for tid, vendor, local in rows.all()}
    names = dict((await session.execute(select(Client.id, Client.name))).all())

    total = _Tally("all", "all runs")
    playbooks: dict[str, _Tally] = {}
    clients: dict[uuid.UUID, _Tally] = {}
    for run in runs:
        minutes = None
        if run.status == "succeeded" and run.finished_at is not None:
            start = opened.get(_uuid(run.ticket_ref)) or run.created_at  # type: ignore[arg-type]
            minutes = max(0.0, (run.finished_at - start).total_seconds() / 60)
        tallies = (
            total,
            playbooks.setdefault(
                run.playbook_id, _Tally(run.playbook_id, str(run.playbook.get("title") or run.playbook_id))
            ),
            clients.setdefault(run.client_id, _Tally(str(run.client_id), names.get(run.client_id, "(deleted client)"))),
        )
        for tally in tallies:
            tally.add(run, approved=run.id in approved, answers=answers.get(run.id, ()), minutes=minutes)
    return Stats(
        since=since,
        total=total.done(),
        playbooks=sorted((t.done() for t in playbooks.values()), key=lambda o: (-o.runs, o.key)),
        clients=sorted((t.done() for t in clients.values()), key=lambda o: (-o.runs, o.name)),
    )


def _uuid(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


def parse_since(text: str | None, *, now: datetime) -> datetime | None:
    """``30d``, ``12h``, ``90m`` back from ``now``, or an ISO date/time (UTC when no zone is given)."""
    if not text:
        return None
    units = {"d": 86_400, "h": 3_600, "m": 60}
    if text[-1:] in units and text[:-1].isdigit():
        return now - timedelta(seconds=int(text[:-1]) * units[text[-1]])
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            f"--since {text!r} is neither a duration (30d, 12h, 90m) nor an ISO date (2026-11-01)"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)

"""The only code that queries the run tables: small keyword-only functions.

Sessions are tenant-bound, so every lookup here is already limited to the caller's tenant;
``lock_run`` takes the row lock that serialises every state change of one run.
"""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from mspclaw.errors import NotFound
from mspclaw.runs.models import Approval, Question, Run, RunDetail, RunStep

Pending = TypeVar("Pending", bound=Approval | Question)


async def get_run_or_raise(session: AsyncSession, *, run_id: uuid.UUID) -> Run:
    """The run, or NotFound (also for another tenant's run)."""
    run = await session.get(Run, run_id)
    if run is None:
        raise NotFound(f"run {run_id} not found", detail={"id": str(run_id)})
    return run


async def lock_run(session: AsyncSession, *, run_id: uuid.UUID) -> Run | None:
    """The run with its row locked for this transaction (None if it does not exist)."""
    result = await session.execute(
        select(Run).where(Run.id == run_id).with_for_update().execution_options(populate_existing=True)
    )
    return result.scalar_one_or_none()


async def list_runs(
    session: AsyncSession, *, status: str | None = None, limit: int = 50, offset: int = 0
) -> tuple[list[Run], int]:
    """Runs, newest first, optionally of one status; with the total count."""
    query = select(Run)
    if status:
        query = query.where(Run.status == status)
    total = (await session.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    rows = await session.execute(query.order_by(Run.created_at.desc(), Run.id.desc()).limit(limit).offset(offset))
    return list(rows.scalars()), int(total)


async def steps_of(session: AsyncSession, *, run_id: uuid.UUID) -> list[RunStep]:
    """The run's recorded steps in execution order."""
    rows = await session.execute(
        select(RunStep).where(RunStep.run_id == run_id).order_by(RunStep.seq).execution_options(populate_existing=True)
    )
    return list(rows.scalars())


async def approvals_of(session: AsyncSession, *, run_id: uuid.UUID) -> list[Approval]:
    """The run's approval requests, oldest first."""
    rows = await session.execute(
        select(Approval)
        .where(Approval.run_id == run_id)
        .order_by(Approval.requested_at, Approval.id)
        .execution_options(populate_existing=True)
    )
    return list(rows.scalars())


async def questions_of(session: AsyncSession, *, run_id: uuid.UUID) -> list[Question]:
    """The run's questions, oldest first."""
    rows = await session.execute(
        select(Question)
        .where(Question.run_id == run_id)
        .order_by(Question.asked_at, Question.id)
        .execution_options(populate_existing=True)
    )
    return list(rows.scalars())


async def list_approvals(session: AsyncSession, *, status: str | None = None, limit: int = 50) -> list[Approval]:
    """Approvals across runs (the approver's inbox), newest first."""
    query = select(Approval)
    if status:
        query = query.where(Approval.status == status)
    rows = await session.execute(query.order_by(Approval.requested_at.desc()).limit(limit))
    return list(rows.scalars())


async def lock_with_run(
    session: AsyncSession, *, model: type[Pending], object_id: uuid.UUID, label: str
) -> tuple[Pending, Run]:
    """An approval/question and its run, both row-locked (run first, as every writer locks).

    NotFound when either is missing (or belongs to another tenant).
    """
    found = await session.get(model, object_id)
    run = await lock_run(session, run_id=found.run_id) if found is not None else None
    if found is None or run is None:
        raise NotFound(f"{label} {object_id} not found", detail={"id": str(object_id)})
    await session.refresh(found, with_for_update=True)
    return found, run


async def detail(session: AsyncSession, *, run: Run) -> RunDetail:
    """The run with its steps, approvals and questions."""
    base: dict[str, Any] = {
        **{k: getattr(run, k) for k in RunDetail.model_fields if hasattr(run, k)},
        "steps": await steps_of(session, run_id=run.id),
        "approvals": await approvals_of(session, run_id=run.id),
        "questions": await questions_of(session, run_id=run.id),
    }
    return RunDetail.model_validate(base)

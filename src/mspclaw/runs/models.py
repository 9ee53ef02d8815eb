"""Run tables (runs, run_steps, approvals, questions) and the API schemas built from them.

A run snapshots the playbook it executes, so resuming after a crash or a new release
runs exactly the version that was started; step rows carry redacted arguments/outputs only.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from mspclaw.database.base import Base, IdMixin, TenantMixin, TimestampMixin
from mspclaw.playbooks.models import TicketContext

RunStatus = Literal[
    "pending", "running", "awaiting_approval", "awaiting_input", "succeeded", "failed", "rolled_back", "cancelled"
]
TERMINAL: frozenset[str] = frozenset({"succeeded", "failed", "rolled_back", "cancelled"})
#: step phases: playbook steps, verification, derived undo calls and the playbook's rollback steps
StepPhase = Literal["step", "verification", "undo", "rollback"]
StepStatus = Literal["running", "succeeded", "failed", "skipped", "blocked", "denied"]
ApprovalStatus = Literal["pending", "approved", "denied", "expired"]
QuestionStatus = Literal["pending", "answered", "expired"]


class Run(IdMixin, TimestampMixin, TenantMixin, Base):
    """One execution of one playbook version for one ticket/device."""

    __tablename__ = "runs"

    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), index=True)
    device_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("devices.id", ondelete="SET NULL"))
    ticket_ref: Mapped[str | None] = mapped_column(String(200))
    context: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    playbook_id: Mapped[str] = mapped_column(String(100), index=True)
    playbook_version: Mapped[str] = mapped_column(String(40))
    content_hash: Mapped[str] = mapped_column(String(80))
    playbook: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(30), default="pending", index=True)
    phase: Mapped[str] = mapped_column(String(20), default="main")
    requested_by_type: Mapped[str] = mapped_column(String(30))
    requested_by_id: Mapped[str | None] = mapped_column(String(100))
    requested_by_name: Mapped[str | None] = mapped_column(String(320))
    requester_permissions: Mapped[list[str]] = mapped_column(JSONB, default=list)
    author: Mapped[str | None] = mapped_column(String(320))
    inputs: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()


class RunStep(IdMixin, TimestampMixin, TenantMixin, Base):
    """One recorded tool call (or skip/block) of a run; its idempotency key is unique."""

    __tablename__ = "run_steps"
    __table_args__ = (UniqueConstraint("run_id", "phase", "step_id"),)

    run_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    phase: Mapped[str] = mapped_column(String(20))
    step_id: Mapped[str] = mapped_column(String(100))
    tool: Mapped[str] = mapped_column(String(100))
    tool_version: Mapped[str | None] = mapped_column(String(40))
    risk: Mapped[str] = mapped_column(String(20))
    args: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    args_hash: Mapped[str | None] = mapped_column(String(64))
    backend: Mapped[str | None] = mapped_column(String(30))
    status: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(Text)
    output: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    approval_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("approvals.id", ondelete="SET NULL"))
    approver: Mapped[str | None] = mapped_column(String(320))
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()
    duration_ms: Mapped[int | None] = mapped_column(Integer)


class Approval(IdMixin, TimestampMixin, TenantMixin, Base):
    """A technician's permission for one exact step: tool plus the hash of its arguments."""

    __tablename__ = "approvals"

    run_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    phase: Mapped[str] = mapped_column(String(20))
    step_id: Mapped[str] = mapped_column(String(100))
    tool: Mapped[str] = mapped_column(String(100))
    args: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    args_hash: Mapped[str] = mapped_column(String(64))
    risk: Mapped[str] = mapped_column(String(20))
    reasons: Mapped[list[str]] = mapped_column(JSONB, default=list)
    status: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    requested_at: Mapped[datetime] = mapped_column()
    expires_at: Mapped[datetime] = mapped_column()
    decided_at: Mapped[datetime | None] = mapped_column()
    decided_by: Mapped[str | None] = mapped_column(String(320))
    decided_by_id: Mapped[str | None] = mapped_column(String(100))
    decider_permissions: Mapped[list[str]] = mapped_column(JSONB, default=list)
    reason: Mapped[str | None] = mapped_column(Text)


class Question(IdMixin, TimestampMixin, TenantMixin, Base):
    """A question to the end user for one playbook input; asked at most once per run."""

    __tablename__ = "questions"
    __table_args__ = (UniqueConstraint("run_id", "input_name"),)

    run_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    input_name: Mapped[str] = mapped_column(String(100))
    prompt: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    answer: Mapped[Any] = mapped_column(JSONB, nullable=True)
    asked_at: Mapped[datetime] = mapped_column()
    expires_at: Mapped[datetime] = mapped_column()
    answered_at: Mapped[datetime | None] = mapped_column()
    answered_by: Mapped[str | None] = mapped_column(String(320))


# ---------------------------------------------------------------- API schemas


class _ORM(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class RunStart(BaseModel):
    """Start a run (or dry-run) of a playbook for a client's ticket/device."""

    model_config = ConfigDict(extra="forbid")

    playbook_id: str = Field(min_length=1, max_length=100)
    client_id: uuid.UUID
    device_id: uuid.UUID | None = None
    ticket_ref: str | None = Field(None, max_length=200)
    context: TicketContext = Field(default_factory=TicketContext)
    inputs: dict[str, Any] = Field(default_factory=dict)


class DryRunRequest(BaseModel):
    """A dry-run of a playbook: the same body as a start, minus the playbook id (in the path)."""

    model_config = ConfigDict(extra="forbid")

    client_id: uuid.UUID | None = None
    device_id: uuid.UUID | None = None
    context: TicketContext = Field(default_factory=TicketContext)
    inputs: dict[str, Any] = Field(default_factory=dict)


class Decision(BaseModel):
    """Approve or deny body."""

    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(None, max_length=2000)


class AnswerBody(BaseModel):
    """An answer to a run's question (typed per the playbook input)."""

    model_config = ConfigDict(extra="forbid")

    answer: Any


class RunStepRead(_ORM):
    id: uuid.UUID
    seq: int
    phase: str
    step_id: str
    tool: str
    risk: str
    args: dict[str, Any]
    backend: str | None
    status: str
    reason: str | None
    output: dict[str, Any]
    error: str | None
    attempt: int
    approver: str | None
    idempotency_key: str
    started_at: datetime | None
    finished_at: datetime | None
    duration_ms: int | None


class ApprovalRead(_ORM):
    id: uuid.UUID
    run_id: uuid.UUID
    phase: str
    step_id: str
    tool: str
    args: dict[str, Any]
    args_hash: str
    risk: str
    reasons: list[str]
    status: str
    requested_at: datetime
    expires_at: datetime
    decided_at: datetime | None
    decided_by: str | None
    reason: str | None


class QuestionRead(_ORM):
    id: uuid.UUID
    run_id: uuid.UUID
    input_name: str
    prompt: str
    status: str
    answer: Any
    asked_at: datetime
    expires_at: datetime
    answered_at: datetime | None


class RunRead(_ORM):
    id: uuid.UUID
    client_id: uuid.UUID
    device_id: uuid.UUID | None
    ticket_ref: str | None
    playbook_id: str
    playbook_version: str
    content_hash: str
    status: str
    phase: str
    requested_by_type: str
    requested_by_name: str | None
    author: str | None
    inputs: dict[str, Any]
    error: str | None
    note: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class RunDetail(RunRead):
    context: dict[str, Any]
    steps: list[RunStepRead] = []
    approvals: list[ApprovalRead] = []
    questions: list[QuestionRead] = []

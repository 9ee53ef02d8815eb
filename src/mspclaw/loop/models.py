"""What the loop did for each ticket and run (idempotency, and the trail a technician reads)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from mspclaw.database.base import Base, IdMixin, TenantMixin, utcnow

LoopKind = Literal["started", "suggested", "skipped", "written_back", "escalated"]


class LoopAction(IdMixin, TenantMixin, Base):
    """One decision of the loop; ``key`` makes every decision happen once."""

    __tablename__ = "loop_actions"
    __table_args__ = (UniqueConstraint("tenant_id", "key"),)

    key: Mapped[str] = mapped_column(String(120))
    ticket_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    run_id: Mapped[uuid.UUID | None] = mapped_column()
    kind: Mapped[str] = mapped_column(String(20))
    playbook_id: Mapped[str | None] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(String(1000))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LoopActionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    ticket_id: uuid.UUID | None
    run_id: uuid.UUID | None
    kind: LoopKind
    playbook_id: str | None
    reason: str
    detail: dict[str, Any]
    created_at: datetime

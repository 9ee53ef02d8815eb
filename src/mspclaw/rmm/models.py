"""Tables and API schemas of the ``rmm_script`` backend.

A connection's *script map* says which vendor script carries out which catalog tool and how the
tool's typed arguments become script parameters. An ``RmmToolCall`` remembers, per executor
idempotency key, the script run started for it, so a retried step never starts the script twice.

Script output contract: for ``output: json`` the script prints one JSON object (the last line of
its output that parses as a JSON object is the tool's output); for ``output: text`` the tool's
output is ``{"text": <script output>, "exit_code": <n>}``. A non-zero exit code or a vendor
failure is a failed tool call.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from mspclaw.database.base import Base, IdMixin, TenantMixin, utcnow


class ScriptMap(IdMixin, TenantMixin, Base):
    """One connection's tool → vendor script map (``tools`` holds ``ToolScript`` dumps by tool name)."""

    __tablename__ = "rmm_script_maps"
    __table_args__ = (UniqueConstraint("tenant_id", "connection_id"),)

    connection_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sync_connections.id", ondelete="CASCADE"))
    tools: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class RmmToolCall(IdMixin, TenantMixin, Base):
    """The script run started for one executor idempotency key (none yet: started, not recorded)."""

    __tablename__ = "rmm_tool_calls"
    __table_args__ = (UniqueConstraint("tenant_id", "idempotency_key"),)

    idempotency_key: Mapped[str] = mapped_column(String(300))
    tool: Mapped[str] = mapped_column(String(100))
    connection_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sync_connections.id", ondelete="CASCADE"))
    device_external_id: Mapped[str] = mapped_column(String(200))
    script_run_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("sync_script_runs.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# ---------------------------------------------------------------- API schemas


class ToolScript(BaseModel):
    """How one catalog tool runs as a vendor script."""

    model_config = ConfigDict(extra="forbid")

    script: str = Field(
        min_length=1, max_length=300, description="Vendor script id, uid or exact name (as the RMM lists it)."
    )
    parameters: dict[str, str] = Field(
        default_factory=dict,
        description="Tool argument → script parameter name. Every required argument must be mapped; "
        "lists and objects are passed as JSON text, booleans as true/false.",
    )
    constants: dict[str, str] = Field(default_factory=dict, description="Fixed script parameters (name → value).")
    output: Literal["json", "text"] = Field(
        "json", description="json: the script prints one JSON object (the tool's output); text: plain text."
    )


class ScriptMapPut(BaseModel):
    """The whole map of a connection (replaces the previous one)."""

    model_config = ConfigDict(extra="forbid")

    tools: dict[str, ToolScript] = Field(default_factory=dict, description="Catalog tool name → vendor script.")


class ScriptMapRead(BaseModel):
    connection_id: uuid.UUID
    tools: dict[str, ToolScript]
    updated_at: datetime | None = None

"""The shapes a planner returns: validated proposals, never actions."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

VerificationMethod = Literal["otp_sms", "otp_email", "agent_push", "technician_attestation"]


class ProposedCall(BaseModel):
    """One tool call a planner proposes; the executor decides whether it may run."""

    model_config = ConfigDict(extra="forbid")

    tool: str = Field(min_length=1, max_length=64, description="A tool name from the MSPclaw catalog.")
    args: dict[str, Any] = Field(default_factory=dict, description="Arguments matching the tool's JSON Schema.")
    reason: str = Field(default="", max_length=500, description="Why this step (shown to the technician).")
    requires_approval: bool = Field(
        default=False, description="Set by MSPclaw (never cleared): a technician approves this step before it runs."
    )


class ProposedPlan(BaseModel):
    """An ordered plan for one ticket, plus how the caller must be verified first."""

    model_config = ConfigDict(extra="forbid")

    summary: str = Field(default="", max_length=500)
    verification: VerificationMethod | None = Field(
        default=None, description="Verify the end user this way before any credential change."
    )
    device_hostname: str | None = Field(default=None, max_length=253, description="Device the endpoint steps run on.")
    steps: list[ProposedCall] = Field(default_factory=list, max_length=25)


class InstructionContext(BaseModel):
    """What the planner may rely on: facts on record, not claims made in the ticket."""

    ticket_id: str | None = None
    ticket_subject: str = ""
    ticket_body: str = ""
    contact_email: str | None = Field(default=None, description="The ticket contact's e-mail on record.")
    contact_phone: str | None = Field(default=None, description="The ticket contact's phone on record.")
    contact_name: str | None = None
    device_hostname: str | None = None
    client_name: str | None = None


class PlanResult(BaseModel):
    """A plan and how it was produced."""

    plan: ProposedPlan
    engine: Literal["offline", "llm"]
    fallback_reason: str | None = None
    problems: list[str] = Field(default_factory=list)
    rejected: list[ProposedCall] = Field(
        default_factory=list, description="The LLM's proposal that was refused (kept for the audit trail)."
    )

"""The playbook format as pydantic models: the single source of the published JSON Schema.

A playbook is YAML; these models validate it. Ticket/device context for matching and
dry-run is modelled here too (``TicketContext``), as the other boundary playbooks meet.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from mspclaw_agent.tools import Platform
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mspclaw.tools import BackendKind

_ID = r"^[a-z][a-z0-9]*(?:[_-][a-z0-9]+)*$"
_SEMVER = r"^\d+\.\d+\.\d+$"

InputType = Literal["string", "integer", "number", "boolean", "email", "hostname", "list"]
InputSource = Literal["ticket", "contact", "device", "client", "question"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Triggers(_Strict):
    """When a playbook is a candidate for a ticket; every list is optional."""

    intents: list[str] = Field(default_factory=list, description="taxonomy intent ids")
    keywords: list[str] = Field(default_factory=list, description="matched as whole words, case-insensitive")
    os: list[Platform] = Field(default_factory=list, description="device OSes it applies to")
    clients: list[str] = Field(default_factory=list, description="client ids/names it is limited to (empty: all)")
    alert_kinds: list[str] = Field(default_factory=list, description="RMM alert kinds")

    @field_validator("keywords")
    @classmethod
    def _keywords(cls, words: list[str]) -> list[str]:
        for word in words:
            if not word.strip() or not re.search(r"\w", word):
                raise ValueError(f"keyword {word!r} must contain a letter or digit")
        return words


class PlaybookInput(_Strict):
    """One input: its type and where it comes from (ticket, contact, device, or a question)."""

    type: InputType = "string"
    source: InputSource
    field: str | None = Field(None, description="field of the source object (default: the input's name)")
    question: str | None = Field(None, description="what to ask the user (source: question)")
    required: bool = True
    default: Any = None
    choices: list[str] | None = None
    sample: Any = Field(None, description="example value used by the linter")
    description: str | None = None

    @model_validator(mode="after")
    def _question_text(self) -> PlaybookInput:
        if self.source == "question" and not self.question:
            raise ValueError("an input with source 'question' needs the question text")
        return self


class Step(_Strict):
    """One tool call with templated arguments, an optional condition and failure policy."""

    id: str = Field(pattern=_ID)
    tool: str
    description: str | None = None
    args: dict[str, Any] = Field(default_factory=dict)
    when: str | None = Field(None, description="safe expression; the step runs only if true")
    os: list[Platform] | None = Field(None, description="run only on these device OSes")
    requires_approval: bool = False
    on_failure: Literal["stop", "continue", "rollback"] = "stop"
    backend: BackendKind | None = Field(None, description="force a backend kind")


class ExpectedPlan(_Strict):
    """What a playbook example expects from matching and dry-run."""

    matches: bool = True
    run: list[str] | None = Field(None, description="step ids that will run")
    skipped: list[str] | None = None
    conditional: list[str] | None = Field(None, description="steps decided at run time")
    approvals: list[str] | None = None
    questions: list[str] | None = None
    error_contains: str | None = Field(None, description="dry-run must fail with this text")


class TicketInfo(BaseModel):
    """The triaged ticket or alert, as matching and templates see it."""

    model_config = ConfigDict(extra="allow")

    id: str | None = None
    subject: str = ""
    body: str = ""
    intent: str | None = None
    intent_confidence: float | None = None
    priority: str | None = None
    alert_kind: str | None = None


class ContactInfo(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str | None = None
    email: str | None = None
    phone: str | None = None
    department: str | None = None
    manager: str | None = None
    vip: bool = False


class DeviceInfo(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str | None = None
    hostname: str | None = None
    os: Platform | None = None
    agent: bool = Field(True, description="an MSPclaw agent is enrolled on the device")
    rmm: bool = Field(False, description="the device is managed by a connected RMM")


class ClientInfo(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str | None = None
    name: str | None = None


class TicketContext(BaseModel):
    """Everything known about the ticket a playbook is matched and planned against."""

    model_config = ConfigDict(extra="forbid")

    ticket: TicketInfo = Field(default_factory=TicketInfo)
    contact: ContactInfo = Field(default_factory=ContactInfo)
    device: DeviceInfo = Field(default_factory=DeviceInfo)
    client: ClientInfo = Field(default_factory=ClientInfo)


class Example(TicketContext):
    """A sample ticket with the plan the playbook should produce for it."""

    model_config = ConfigDict(extra="forbid")

    name: str
    inputs: dict[str, Any] = Field(default_factory=dict)
    expect: ExpectedPlan = Field(default_factory=ExpectedPlan)


class Playbook(_Strict):
    """A versioned, reviewable resolution: triggers, inputs, steps, verification, rollback."""

    id: str = Field(pattern=_ID)
    title: str = Field(min_length=1, max_length=200)
    version: str = Field(pattern=_SEMVER)
    description: str = ""
    priority: int = Field(0, ge=-100, le=100, description="tie-breaker: higher wins")
    mode: Literal["suggest", "auto"] = "suggest"
    triggers: Triggers = Field(default_factory=Triggers)
    inputs: dict[str, PlaybookInput] = Field(default_factory=dict)
    tools: list[str] = Field(description="every tool the playbook may call (the allow-list)")
    steps: list[Step] = Field(min_length=1)
    verification: list[Step] = Field(default_factory=list)
    rollback: list[Step] = Field(
        default_factory=list,
        description="run after the undo tools of completed steps when a step fails with on_failure: rollback",
    )
    note: str | None = Field(None, description="template of the note written back")
    examples: list[Example] = Field(default_factory=list)

    @field_validator("inputs")
    @classmethod
    def _input_names(cls, inputs: dict[str, PlaybookInput]) -> dict[str, PlaybookInput]:
        for name in inputs:
            if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
                raise ValueError(f"input name {name!r} must be snake_case")
        return inputs

    def all_steps(self) -> list[tuple[Literal["step", "verification", "rollback"], Step]]:
        """(phase, step) for steps, verification and rollback, in order."""
        return (
            [("step", s) for s in self.steps]
            + [("verification", s) for s in self.verification]
            + [("rollback", s) for s in self.rollback]
        )


def playbook_json_schema() -> dict[str, Any]:
    """The published JSON Schema of the playbook YAML format."""
    schema = Playbook.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://mspclaw.dev/schemas/playbook.json"
    return schema

"""Notification tools: write back to the ticket, message the end user or a technician.

Carried out by the notify package (email/SMS/Teams/Slack) and the PSA connector.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from mspclaw.tools.spec import BackendRef, ToolSpec

Channel = Literal["email", "sms", "teams", "slack"]


class TicketNoteArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=20_000)
    internal: bool = Field(True, description="internal note (not visible to the end user)")


class NotifyUserArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: Channel = "email"
    message: str = Field(min_length=1, max_length=4000)
    subject: str | None = Field(None, max_length=200)
    recipient: str | None = Field(None, max_length=256, description="address/number; default: the ticket's contact")


class NotifyTechnicianArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: Channel = "teams"
    message: str = Field(min_length=1, max_length=4000)
    urgency: Literal["low", "normal", "high"] = "normal"
    technician: str | None = Field(None, max_length=256, description="default: ticket owner")


_NOTIFY = (BackendRef(kind="notification"),)

NOTIFICATION_TOOLS: list[ToolSpec] = [
    ToolSpec(
        name="post_ticket_note",
        version="1.0.0",
        description="Add a note to the ticket in the PSA.",
        args_model=TicketNoteArgs,
        risk="change",
        permission="tickets.write",
        backends=_NOTIFY,
    ),
    ToolSpec(
        name="notify_user",
        version="1.0.0",
        description="Message the end user by e-mail, SMS, Teams or Slack.",
        args_model=NotifyUserArgs,
        risk="change",
        permission="notify.send",
        backends=_NOTIFY,
        sensitive_fields=("message",),
    ),
    ToolSpec(
        name="notify_technician",
        version="1.0.0",
        description="Message a technician (hand-over, escalation, approval nudge).",
        args_model=NotifyTechnicianArgs,
        risk="read",
        permission="notify.send",
        backends=_NOTIFY,
    ),
]

"""The ``notification`` backend for messages to the end user: ``notify_user`` by e-mail or SMS.

Playbooks end with "tell the user" (the account-lockout playbook's ``tell_user`` step); this
backend hands that message to the same :class:`~mspclaw.identity.notify.Notifier` that delivers
one-time codes (apprise URLs from ``MSPCLAW_IDENTITY_EMAIL_URL`` / ``_SMS_URL``). Register it
on the executor's router next to the identity backend:
``router.register(UserMessageBackend(notifier))``. Teams/Slack and ``notify_technician`` are
not carried out here (the loop tells technicians through its own notification targets).
"""

from __future__ import annotations

import time
from typing import Any

from mspclaw_agent.tools import ToolOutcome

from mspclaw.identity.notify import DeliveryFailed, Notifier
from mspclaw.identity.verification import mask
from mspclaw.tools.backends import ToolContext
from mspclaw.tools.spec import BackendKind, ToolSpec


class UserMessageBackend:
    """Carries out ``notify_user`` (e-mail, SMS) through a Notifier; kind ``notification``."""

    kind: BackendKind = "notification"

    def __init__(self, notifier: Notifier | None) -> None:
        self.notifier = notifier

    async def execute(self, tool: ToolSpec, args: dict[str, Any], context: ToolContext) -> ToolOutcome:
        started = time.monotonic()

        def outcome(ok: bool, output: dict[str, Any], error: str | None = None) -> ToolOutcome:
            return ToolOutcome(
                tool=tool.name, ok=ok, output=output, error=error, duration_ms=int((time.monotonic() - started) * 1000)
            )

        if tool.name != "notify_user":
            return outcome(False, {}, f"{tool.name} is not carried out by the user-message backend")
        parsed = tool.validate_args(args)
        channel, recipient = parsed.channel, parsed.recipient  # type: ignore[attr-defined]
        if channel not in ("email", "sms"):
            return outcome(False, {}, f"messages to users by {channel} are not configured; use email or sms")
        if not recipient:
            return outcome(False, {}, "notify_user needs a recipient (the contact's address or number on record)")
        if self.notifier is None:
            return outcome(
                False, {}, "no e-mail/SMS channel is configured (set MSPCLAW_IDENTITY_EMAIL_URL or _SMS_URL)"
            )
        subject = parsed.subject or "Message from IT support"  # type: ignore[attr-defined]
        try:
            await self.notifier.send(channel, recipient, subject, parsed.message)  # type: ignore[attr-defined]
        except DeliveryFailed as exc:
            return outcome(False, {}, exc.message)
        return outcome(True, {"channel": channel, "sent_to": mask(channel, recipient), "subject": subject})

"""How identity messages (one-time codes, secret view links) reach a person: the ``Notifier`` seam.

``RecordingNotifier`` keeps messages in memory (tests, dry runs); ``AppriseNotifier`` sends
them through apprise URLs (SMTP, SMS gateways, ...) configured by the operator.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

from mspclaw.errors import MSPclawError

Channel = Literal["email", "sms"]


class DeliveryFailed(MSPclawError):
    """The message could not be handed to the channel."""

    code = "notification_failed"
    status_code = 502


class Notifier(Protocol):
    """Sends one short message to one address or number."""

    async def send(self, channel: Channel, to: str, subject: str, body: str) -> None: ...


@dataclass
class SentMessage:
    channel: Channel
    to: str
    subject: str
    body: str


@dataclass
class RecordingNotifier:
    """Keeps every message; ``last(to)`` is what a person at that address would have received."""

    sent: list[SentMessage] = field(default_factory=list)

    async def send(self, channel: Channel, to: str, subject: str, body: str) -> None:
        self.sent.append(SentMessage(channel, to, subject, body))

    def last(self, to: str) -> SentMessage:
        return next(m for m in reversed(self.sent) if m.to == to)


class AppriseNotifier:
    """Sends through apprise; each channel has a URL template with ``{to}`` for the recipient.

    e.g. ``email="mailtos://user:pass@smtp.example.com?to={to}"``,
    ``sms="twilio://SID:TOKEN@+15550001111/{to}"``.
    """

    def __init__(self, *, email: str | None = None, sms: str | None = None) -> None:
        self._templates: dict[Channel, str | None] = {"email": email, "sms": sms}

    async def send(self, channel: Channel, to: str, subject: str, body: str) -> None:
        import apprise

        template = self._templates.get(channel)
        if template is None:
            raise DeliveryFailed(f"no {channel} channel is configured for identity messages")
        sender = apprise.Apprise()
        if not sender.add(template.format(to=to)):
            raise DeliveryFailed(f"the {channel} channel URL is not valid")
        if not await sender.async_notify(body=body, title=subject):
            raise DeliveryFailed(f"the {channel} message could not be sent")

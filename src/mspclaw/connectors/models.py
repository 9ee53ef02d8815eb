"""Normalised connector models: what every adapter returns, whatever the vendor.

Each model keeps the vendor's raw payload (``raw``) and, for status and priority, the raw
vendor value beside the mapped one, so nothing the vendor said is lost in translation.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Generic, Literal, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

TicketStatus = Literal["new", "open", "waiting", "resolved", "closed"]
TicketPriority = Literal["low", "medium", "high", "critical"]
ScriptJobStatus = Literal["pending", "running", "succeeded", "failed", "timed_out"]

T = TypeVar("T")


class _Normalised(BaseModel):
    model_config = ConfigDict(frozen=True)

    external_id: str
    raw: dict[str, Any] = Field(default_factory=dict, repr=False)


class Ticket(_Normalised):
    """A PSA ticket. ``status``/``priority`` are ``None`` when the mapping lacks the raw value."""

    number: str | None = None
    subject: str
    description: str | None = None
    status: TicketStatus | None = None
    raw_status: str | None = None
    priority: TicketPriority | None = None
    raw_priority: str | None = None
    client_external_id: str | None = None
    contact_external_id: str | None = None
    assignee: str | None = None
    queue: str | None = None
    created_at: AwareDatetime | None = None
    updated_at: AwareDatetime


class Note(_Normalised):
    """A note on a ticket; ``internal`` means technicians only (never shown to the requester)."""

    ticket_external_id: str
    body: str
    internal: bool
    author: str | None = None
    created_at: AwareDatetime | None = None


class Client(_Normalised):
    """A company the MSP serves, as the vendor knows it."""

    name: str
    domains: list[str] = Field(default_factory=list)


class Contact(_Normalised):
    """A person at a client (ticket requester)."""

    client_external_id: str | None = None
    name: str
    email: str | None = None
    phone: str | None = None


class Device(_Normalised):
    """An endpoint (RMM device, PSA configuration item)."""

    client_external_id: str | None = None
    name: str
    hostname: str | None = None
    os: str | None = None
    online: bool | None = None
    last_seen: AwareDatetime | None = None


class Alert(_Normalised):
    """An RMM alert; ``raw_severity`` is the vendor's word, ``open`` whether it still stands."""

    device_external_id: str | None = None
    client_external_id: str | None = None
    message: str
    raw_severity: str | None = None
    open: bool = True
    created_at: AwareDatetime | None = None


class ScriptJob(BaseModel):
    """A script run on a device: the handle ``run_script`` returns and the polled result."""

    job_id: str
    device_external_id: str
    script_id: str
    status: ScriptJobStatus
    output: str | None = None
    exit_code: int | None = None
    started_at: AwareDatetime
    finished_at: AwareDatetime | None = None
    raw: dict[str, Any] = Field(default_factory=dict, repr=False)

    @property
    def done(self) -> bool:
        """Whether the job reached a final state."""
        return self.status in ("succeeded", "failed", "timed_out")


class WebhookEvent(BaseModel):
    """One verified inbound event; ``event_key`` is what replay protection dedupes on."""

    event_key: str
    entity: Literal["ticket", "note", "client", "contact", "device", "alert", "other"]
    action: str
    external_id: str | None = None
    occurred_at: AwareDatetime | None = None
    raw: dict[str, Any] = Field(default_factory=dict, repr=False)


class Page(BaseModel, Generic[T]):
    """One page of a list; ``next_cursor`` is an opaque token, ``None`` on the last page."""

    items: list[T]
    next_cursor: str | None = None
    watermark: AwareDatetime | None = Field(
        None, description="Newest vendor updated-at on this page, filtered-out items included."
    )


class SyncCursor(BaseModel):
    """The state a polling sync stores between runs for one connection and one stream.

    ``updated_since`` is the newest vendor ``updated_at`` seen; the next run asks the vendor
    for changes after ``window_start(overlap)`` so clock skew and same-second updates are
    re-read (upserts dedupe them) instead of missed.
    """

    updated_since: AwareDatetime | None = None

    def window_start(self, overlap_seconds: float = 120.0) -> datetime | None:
        """Where the next incremental read starts (``None`` means a full sync)."""
        if self.updated_since is None:
            return None
        return self.updated_since - timedelta(seconds=overlap_seconds)

    def after_walk(self, watermark: datetime | None, walk_started_at: datetime) -> SyncCursor:
        """The cursor to store once a walk (all pages from one ``since``) completed.

        It is the newest change seen, but never later than when the walk began: in an
        id-ordered walk (ConnectWise) a ticket edited mid-walk may already be behind us,
        and starting the next window before the walk began re-reads it.
        """
        if watermark is None:
            return self
        newest = min(watermark, walk_started_at).astimezone(UTC)
        if self.updated_since and newest <= self.updated_since:
            return self
        return SyncCursor(updated_since=newest)

    def advanced(self, page: Page[Ticket]) -> SyncCursor:
        """The cursor after a page was stored: it only ever moves forward."""
        newest = page.watermark or max((t.updated_at for t in page.items), default=None)
        if newest is None or (self.updated_since and newest <= self.updated_since):
            return self
        return SyncCursor(updated_since=newest.astimezone(UTC))


class TicketCreate(BaseModel):
    """What MSPclaw can ask a PSA to create; status/priority are normalised values."""

    subject: str
    description: str | None = None
    client_external_id: str
    contact_external_id: str | None = None
    status: TicketStatus | None = None
    priority: TicketPriority | None = None


class TicketUpdate(BaseModel):
    """A partial ticket update; only fields that are set are written."""

    subject: str | None = None
    status: TicketStatus | None = None
    priority: TicketPriority | None = None


class ConnectionTestResult(BaseModel):
    """The outcome of ``test_connection``: ``reason`` is written for the person setting it up."""

    ok: bool
    code: Literal["ok", "auth_failed", "wrong_url", "missing_permission", "rate_limited", "vendor_error"]
    reason: str


def parse_vendor_time(value: Any) -> datetime | None:
    """Parse a vendor timestamp defensively: ISO with or without milliseconds, ``Z`` or an
    offset (naive means UTC), or epoch seconds/milliseconds."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        seconds = value / 1000 if value > 10_000_000_000 else value
        return datetime.fromtimestamp(seconds, UTC)
    text = str(value).strip()
    if text.replace(".", "", 1).isdigit():
        return parse_vendor_time(float(text))
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)

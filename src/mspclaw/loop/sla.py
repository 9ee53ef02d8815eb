"""SLA response targets: how long a ticket may wait for a technician's first response, by the
client's SLA tier and the ticket's priority, and when the loop must warn (80 % of the window).

An automatic run counts as work on the ticket, but not as a response: while it is still open
(waiting for an approval, an answer, or a slow step) the clock keeps running.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from mspclaw.tenancy.policy import ClientPolicy

#: minutes to first response; ``None`` is a client without an SLA tier
RESPONSE_TARGET_MINUTES: dict[str | None, dict[str, int]] = {
    "platinum": {"critical": 15, "high": 30, "medium": 60, "low": 120},
    "gold": {"critical": 30, "high": 60, "medium": 120, "low": 240},
    "silver": {"critical": 60, "high": 120, "medium": 240, "low": 480},
    "bronze": {"critical": 120, "high": 240, "medium": 480, "low": 960},
    None: {"critical": 60, "high": 240, "medium": 480, "low": 1440},
}
WARN_FRACTION = 0.8


def response_target(policy: ClientPolicy, priority: str | None) -> timedelta:
    """The response window for a ticket of ``priority`` (medium when unknown) under the client's tier."""
    table = RESPONSE_TARGET_MINUTES[policy.sla_tier]
    return timedelta(minutes=table.get(priority or "medium", table["medium"]))


def warn_at(opened: datetime, target: timedelta) -> datetime:
    """When a technician must be told that an automatic run still holds the ticket."""
    return opened + target * WARN_FRACTION

"""Alert noise reduction: RMM, monitoring and security alerts in, incidents worth a human out.

Owns fingerprinting, de-duplication, correlation into incidents (same host, then attack-chain
correlation across a site), flap suppression, maintenance windows, auto-resolve, and the rule
that decides which incidents become tickets. Streaming, time-ordered and memory-bounded: state
is keyed by host/kind, open incidents close after a quiet gap, and learnt statistics are LRU-capped.
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict, deque
from datetime import UTC, datetime, timedelta
from typing import Literal
from uuid import UUID, uuid4

from pydantic import BaseModel, Field, field_validator

from mspclaw.errors import InvalidInput

Severity = Literal["critical", "high", "medium", "low", "info"]
AlertStatus = Literal["firing", "resolved"]
Action = Literal[
    "new_incident",
    "correlated",
    "deduplicated",
    "suppressed_maintenance",
    "suppressed_flapping",
    "auto_resolved",
    "resolved_signal",
]

_SEVERITY_RANK: dict[str, int] = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}

# Volatile parts of alert messages, most specific first, so "disk C: 91% on 10.0.0.4" and
# "disk C: 93% on 10.0.0.7" share one fingerprint.
_VOLATILE: list[tuple[re.Pattern[str], str]] = [
    (
        re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I),
        "<guid>",
    ),
    (re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}(?::\d+)?\b"), "<ip>"),
    (re.compile(r"\b(?:[0-9a-f]{1,4}:){3,7}[0-9a-f]{1,4}\b", re.I), "<ip>"),
    (re.compile(r"\b[0-9a-f]{2}(?::[0-9a-f]{2}){5}\b", re.I), "<mac>"),
    (re.compile(r"(?:[a-z]:)?(?:[\\/][\w.\-$ ]+){2,}", re.I), "<path>"),
    (re.compile(r"\b0x[0-9a-f]+\b|\b[0-9a-f]{12,}\b", re.I), "<hex>"),
    (re.compile(r"\d+(?:[.,]\d+)?"), "<n>"),
]


def normalise_message(message: str) -> str:
    """Replace the volatile parts of an alert message (GUIDs, IPs, paths, numbers)."""
    text = message.strip().lower()
    for pattern, token in _VOLATILE:
        text = pattern.sub(token, text)
    return re.sub(r"\s+", " ", text)


class AlertEvent(BaseModel):
    """One alert as a monitoring/RMM/security tool reports it."""

    id: str = Field(default_factory=lambda: uuid4().hex)
    source: str
    kind: str
    host: str
    site: str = "default"
    severity: Severity = "medium"
    time: datetime
    message: str = ""
    status: AlertStatus = "firing"

    @field_validator("time")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("alert time must be timezone-aware (UTC)")
        return value.astimezone(UTC)


def fingerprint(event: AlertEvent) -> str:
    """A stable key for 'the same alert again': source, kind, place and normalised message."""
    raw = "|".join((event.source, event.kind, event.site, event.host, normalise_message(event.message)))
    return hashlib.sha1(raw.encode("utf-8"), usedforsecurity=False).hexdigest()[:16]


class MaintenanceWindow(BaseModel):
    """Alerts inside [start, end) for the site (and host, when given) are suppressed."""

    start: datetime
    end: datetime
    site: str | None = None
    host: str | None = None
    reason: str = ""

    def covers(self, event: AlertEvent) -> bool:
        """True when ``event`` falls in this window's time range and scope."""
        if not (self.start <= event.time < self.end):
            return False
        if self.site is not None and self.site != event.site:
            return False
        return self.host is None or self.host == event.host


class NoiseConfig(BaseModel):
    """Tuning of the reducer; the defaults are the ones the AIT evaluation reports."""

    dedupe_window: timedelta = timedelta(minutes=10)
    incident_gap: timedelta = timedelta(minutes=30)
    max_incident_span: timedelta = timedelta(hours=4)
    site_correlation_window: timedelta = timedelta(minutes=60)
    context_lookback: timedelta = timedelta(minutes=5)
    context_max_alerts: int = 200
    learning_period: timedelta = timedelta(hours=24)
    novelty_memory: timedelta = timedelta(days=7)
    spread_window: timedelta = timedelta(minutes=10)
    spread_min_hosts: int = 5
    rare_max_count: int = 30
    rare_gap: timedelta = timedelta(hours=6)
    burst_factor: float = 20.0
    burst_min_alerts: int = 200
    flap_window: timedelta = timedelta(hours=1)
    flap_threshold: int = 3
    raise_severity: Severity = "high"
    max_tracked_keys: int = 50_000
    max_open_incidents: int = 10_000
    keep_closed: int = 1_000


class Incident(BaseModel):
    """Related alerts grouped together; ``raised`` means it is worth a human (a ticket)."""

    id: UUID = Field(default_factory=uuid4)
    site: str
    hosts: set[str] = Field(default_factory=set)
    kinds: dict[str, int] = Field(default_factory=dict)
    first_seen: datetime
    last_seen: datetime
    last_anomaly: datetime | None = None
    alert_count: int = 0
    severity: Severity = "info"
    firing: set[str] = Field(default_factory=set)
    status: Literal["open", "resolved", "closed"] = "open"
    raised: bool = False
    raised_at: datetime | None = None
    reasons: list[str] = Field(default_factory=list)


class Decision(BaseModel):
    """What the reducer did with one alert."""

    action: Action
    incident_id: UUID | None = None
    raise_ticket: bool = False
    reason: str = ""
    attached: list[str] = Field(default_factory=list)
    merged: list[UUID] = Field(default_factory=list)


class OutOfOrder(InvalidInput):
    """Alerts must be fed in time order (within the configured tolerance)."""

    code = "alert_out_of_order"


class _KeyStats:
    """What the reducer has learnt about one (site, host, kind) or (site, kind)."""

    __slots__ = (
        "bucket_count",
        "bucket_start",
        "count",
        "last_seen",
        "max_spread",
        "rate",
        "spread_hosts",
        "spread_window",
    )

    def __init__(self, now: datetime) -> None:
        self.last_seen = now
        self.count = 0
        # (site, kind) keys only: which hosts fired this kind recently, and the widest spread seen
        self.spread_window: deque[tuple[datetime, str]] = deque()
        self.spread_hosts: dict[str, int] = {}
        self.max_spread = 0
        self.bucket_start = now
        self.bucket_count = 0
        self.rate = 0.0  # exponentially weighted alerts per hour


class NoiseReducer:
    """Streaming reducer: call :meth:`ingest` for each alert in time order."""

    def __init__(
        self,
        config: NoiseConfig | None = None,
        maintenance: list[MaintenanceWindow] | None = None,
        reorder_tolerance: timedelta = timedelta(seconds=5),
    ) -> None:
        self.config = config or NoiseConfig()
        self.maintenance = list(maintenance or [])
        self.reorder_tolerance = reorder_tolerance
        self._started: datetime | None = None
        self._now: datetime | None = None
        self._last_sweep: datetime | None = None
        self._stats: OrderedDict[tuple[str, ...], _KeyStats] = OrderedDict()
        self._open_by_host: dict[tuple[str, str], Incident] = {}
        self._incidents: dict[UUID, Incident] = {}
        self._last_fp: OrderedDict[str, tuple[datetime, UUID]] = OrderedDict()
        self._flaps: OrderedDict[str, deque[datetime]] = OrderedDict()
        self._recent: dict[str, deque[tuple[datetime, str]]] = {}
        self.closed: deque[Incident] = deque(maxlen=self.config.keep_closed)

    # -- public -----------------------------------------------------------------------------
    def ingest(self, event: AlertEvent) -> Decision:
        """Process one alert and say what happened to it."""
        self._advance(event.time)
        for window in self.maintenance:
            if window.covers(event):
                return Decision(action="suppressed_maintenance", reason=window.reason)
        fp = fingerprint(event)
        if event.status == "resolved":
            return self._resolve(fp, event)
        if self._is_flapping(fp, event.time):
            return Decision(action="suppressed_flapping", reason="alert fires and resolves repeatedly")
        return self._fire(fp, event)

    def flush(self) -> list[Incident]:
        """Close every open incident (end of replay) and return all incidents still held."""
        for incident in list(self._open_by_host.values()):
            self._close(incident)
        return list(self._incidents.values())

    @property
    def open_incidents(self) -> list[Incident]:
        """Incidents still accepting alerts."""
        return [i for i in self._incidents.values() if i.status != "closed"]

    def state_size(self) -> dict[str, int]:
        """How much the reducer holds in memory, per kind of state (all are capped)."""
        return {
            "incidents": len(self._incidents),
            "learnt_keys": len(self._stats),
            "fingerprints": len(self._last_fp),
            "flap_histories": len(self._flaps),
            "closed_kept": len(self.closed),
        }

    def incident(self, incident_id: UUID) -> Incident | None:
        """An incident still held in memory (open, or among the recently closed)."""
        found = self._incidents.get(incident_id)
        if found is not None:
            return found
        return next((i for i in self.closed if i.id == incident_id), None)

    # -- time -------------------------------------------------------------------------------
    def _advance(self, now: datetime) -> None:
        if self._now is not None and now < self._now - self.reorder_tolerance:
            raise OutOfOrder(
                f"alert at {now.isoformat()} arrived after {self._now.isoformat()}; feed alerts in time order",
            )
        self._started = self._started or now
        self._now = max(now, self._now or now)
        cfg = self.config
        # Sweeping once a minute keeps ingest cheap when many incidents are open.
        if self._last_sweep is not None and now - self._last_sweep < timedelta(minutes=1):
            return
        self._last_sweep = now
        for incident in list(self._incidents.values()):
            quiet = now - incident.last_seen > cfg.incident_gap
            too_long = now - incident.first_seen > cfg.max_incident_span
            if quiet or too_long:
                self._close(incident)

    def _close(self, incident: Incident) -> None:
        for key in [k for k, v in self._open_by_host.items() if v.id == incident.id]:
            del self._open_by_host[key]
        if incident.status == "open":
            incident.status = "closed"
        self._incidents.pop(incident.id, None)
        self.closed.append(incident)

    # -- firing / resolving -----------------------------------------------------------------
    def _resolve(self, fp: str, event: AlertEvent) -> Decision:
        self._record_transition(fp, event.time)
        last = self._last_fp.get(fp)
        incident = self._incidents.get(last[1]) if last else None
        if incident is None:
            return Decision(action="resolved_signal", reason="no open incident for this alert")
        incident.firing.discard(fp)
        if not incident.firing:
            # The source recovered: nothing in the incident is still firing.
            incident.status = "resolved"
            for key in [k for k, v in self._open_by_host.items() if v.id == incident.id]:
                del self._open_by_host[key]
            return Decision(
                action="auto_resolved",
                incident_id=incident.id,
                reason="every alert of the incident has recovered",
            )
        return Decision(action="resolved_signal", incident_id=incident.id)

    def _record_transition(self, fp: str, when: datetime) -> None:
        history = self._flaps.get(fp)
        if history is None:
            history = deque(maxlen=self.config.flap_threshold * 2 + 2)
            self._flaps[fp] = history
            if len(self._flaps) > self.config.max_tracked_keys:
                self._flaps.popitem(last=False)
        history.append(when)

    def _is_flapping(self, fp: str, now: datetime) -> bool:
        history = self._flaps.get(fp)
        if not history:
            return False
        recent = [t for t in history if now - t <= self.config.flap_window]
        # each resolve recorded means one fire/resolve cycle
        return len(recent) >= self.config.flap_threshold

    def _fire(self, fp: str, event: AlertEvent) -> Decision:
        cfg = self.config
        host_key = (event.site, event.host)
        anomalies = self._learn(event)
        recent = self._recent.setdefault(event.site, deque(maxlen=cfg.context_max_alerts))
        recent.append((event.time, event.id))
        last = self._last_fp.get(fp)
        incident = self._open_by_host.get(host_key)
        action: Action = "correlated"
        if incident is None:
            incident = Incident(site=event.site, first_seen=event.time, last_seen=event.time)
            self._incidents[incident.id] = incident
            self._open_by_host[host_key] = incident
            action = "new_incident"
            if len(self._open_by_host) > cfg.max_open_incidents:
                oldest = min(self._open_by_host.values(), key=lambda i: i.last_seen)
                self._close(oldest)
        elif last is not None and last[1] == incident.id and event.time - last[0] <= cfg.dedupe_window:
            action = "deduplicated"
        self._remember_fp(fp, event.time, incident.id)
        self._add(incident, event, fp)
        if _SEVERITY_RANK[event.severity] >= _SEVERITY_RANK[cfg.raise_severity]:
            anomalies.append(f"{event.severity} severity {event.kind} on {event.host}")
        decision = Decision(action=action, incident_id=incident.id)
        if anomalies:
            incident.last_anomaly = event.time
            self._escalate(incident, event, anomalies, decision)
        return decision

    def _add(self, incident: Incident, event: AlertEvent, fp: str) -> None:
        incident.hosts.add(event.host)
        incident.kinds[event.kind] = incident.kinds.get(event.kind, 0) + 1
        incident.alert_count += 1
        incident.last_seen = max(incident.last_seen, event.time)
        incident.firing.add(fp)
        if _SEVERITY_RANK[event.severity] > _SEVERITY_RANK[incident.severity]:
            incident.severity = event.severity
        if incident.status == "resolved":
            incident.status = "open"

    def _remember_fp(self, fp: str, when: datetime, incident_id: UUID) -> None:
        self._last_fp[fp] = (when, incident_id)
        self._last_fp.move_to_end(fp)
        if len(self._last_fp) > self.config.max_tracked_keys:
            self._last_fp.popitem(last=False)

    # -- learning what is normal --------------------------------------------------------------
    def _stat(self, key: tuple[str, ...], now: datetime) -> tuple[_KeyStats, bool]:
        stats = self._stats.get(key)
        fresh = stats is None or now - stats.last_seen > self.config.novelty_memory
        if stats is None:
            stats = _KeyStats(now)
            self._stats[key] = stats
            if len(self._stats) > self.config.max_tracked_keys:
                self._stats.popitem(last=False)
        self._stats.move_to_end(key)
        return stats, fresh

    def _learn(self, event: AlertEvent) -> list[str]:
        """Update per-key statistics and return why this alert is unusual (if it is)."""
        cfg = self.config
        assert self._started is not None
        learning = event.time - self._started < cfg.learning_period
        reasons: list[str] = []
        host_stats, host_new = self._stat(("host", event.site, event.host, event.kind), event.time)
        site_stats, site_new = self._stat(("site", event.site, event.kind), event.time)
        site_stats.last_seen = event.time
        spread = self._spread(site_stats, event)
        if not learning and site_new:
            reasons.append(f"{event.kind} never seen at site {event.site}")
        elif not learning and host_new:
            reasons.append(f"{event.kind} never seen on {event.host}")
        elif (
            not learning and host_stats.count < cfg.rare_max_count and event.time - host_stats.last_seen >= cfg.rare_gap
        ):
            reasons.append(
                f"rare {event.kind} on {event.host} ({host_stats.count} before, "
                f"last {event.time - host_stats.last_seen} ago)"
            )
        host_stats.last_seen = event.time
        host_stats.count += 1
        if event.time - host_stats.bucket_start >= timedelta(hours=1):
            hours = (event.time - host_stats.bucket_start) / timedelta(hours=1)
            # missing hours count as zero-alert hours in the moving average
            host_stats.rate = host_stats.rate * (0.9 ** int(hours)) + 0.1 * host_stats.bucket_count
            host_stats.bucket_start = event.time
            host_stats.bucket_count = 0
        host_stats.bucket_count += 1
        if spread > site_stats.max_spread:
            if not learning and spread >= cfg.spread_min_hosts:
                # e.g. many workstations going offline together: a site outage, not N tickets
                reasons.append(f"{event.kind} on {spread} hosts within {cfg.spread_window}")
            site_stats.max_spread = spread
        threshold = max(cfg.burst_min_alerts, cfg.burst_factor * host_stats.rate)
        if not learning and host_stats.bucket_count == int(threshold):
            reasons.append(f"burst of {host_stats.bucket_count} {event.kind} on {event.host} within an hour")
        return reasons

    def _spread(self, stats: _KeyStats, event: AlertEvent) -> int:
        """Distinct hosts that fired this kind at this site within the spread window."""
        window, hosts = stats.spread_window, stats.spread_hosts
        window.append((event.time, event.host))
        hosts[event.host] = hosts.get(event.host, 0) + 1
        while window and (event.time - window[0][0] > self.config.spread_window or len(window) > 10_000):
            _, old_host = window.popleft()
            hosts[old_host] -= 1
            if not hosts[old_host]:
                del hosts[old_host]
        return len(hosts)

    # -- worth a human ----------------------------------------------------------------------
    def _escalate(self, incident: Incident, event: AlertEvent, reasons: list[str], decision: Decision) -> None:
        cfg = self.config
        target = self._site_chain(incident, event.time)
        if target is not None and target.id != incident.id:
            # Same site, an attack chain or outage in progress: one ticket, not one per host.
            decision.merged.append(incident.id)
            self._merge(incident, into=target)
            decision.incident_id = target.id
            incident = target
        new_reasons = [r for r in reasons if r not in incident.reasons]
        incident.reasons.extend(new_reasons[: max(0, 20 - len(incident.reasons))])
        incident.last_anomaly = event.time
        if incident.raised:
            return
        incident.raised = True
        incident.raised_at = event.time
        decision.raise_ticket = True
        decision.reason = "; ".join(reasons)
        # Reconnaissance and precursors show up at the site minutes before the first alert that
        # stands out; attach them so the technician sees the lead-up.
        recent = self._recent.get(event.site, deque())
        decision.attached = [
            alert_id for when, alert_id in recent if event.time - when <= cfg.context_lookback and alert_id != event.id
        ]

    def _site_chain(self, incident: Incident, now: datetime) -> Incident | None:
        if incident.raised:
            return incident
        window = self.config.site_correlation_window
        candidates = [
            other
            for other in self._incidents.values()
            if other.raised
            and other.site == incident.site
            and other.status != "closed"
            and other.last_anomaly is not None
            and now - other.last_anomaly <= window
        ]
        return max(candidates, key=lambda i: i.last_anomaly or now) if candidates else None

    def _merge(self, incident: Incident, into: Incident) -> None:
        into.hosts |= incident.hosts
        for kind, count in incident.kinds.items():
            into.kinds[kind] = into.kinds.get(kind, 0) + count
        into.alert_count += incident.alert_count
        into.firing |= incident.firing
        into.first_seen = min(into.first_seen, incident.first_seen)
        into.last_seen = max(into.last_seen, incident.last_seen)
        if _SEVERITY_RANK[incident.severity] > _SEVERITY_RANK[into.severity]:
            into.severity = incident.severity
        for key, value in list(self._open_by_host.items()):
            if value.id == incident.id:
                self._open_by_host[key] = into
        for fp, (when, owner) in list(self._last_fp.items()):
            if owner == incident.id:
                self._last_fp[fp] = (when, into.id)
        self._incidents.pop(incident.id, None)

"""Per-connection mappings: vendor status/priority ↔ normalised values, board/queue filters,
and vendor company → MSPclaw client matches (proposed by name/domain, confirmed by a person).

An unmapped vendor value is recorded in an :class:`UnmappedReport`, never coerced.
"""

from __future__ import annotations

import difflib
import re
from datetime import UTC, datetime
from typing import Literal, get_args

from pydantic import AwareDatetime, BaseModel, Field

from mspclaw.connectors.errors import UnmappedValue
from mspclaw.connectors.models import Client, TicketPriority, TicketStatus
from mspclaw.connectors.spec import ConnectorSpec

MappedField = Literal["status", "priority"]
_ALLOWED: dict[MappedField, tuple[str, ...]] = {
    "status": get_args(TicketStatus),
    "priority": get_args(TicketPriority),
}


class UnmappedValueSeen(BaseModel):
    """A vendor value the mapping does not cover, with how often and when it was seen."""

    field: MappedField
    value: str
    count: int = 0
    first_seen: AwareDatetime
    last_seen: AwareDatetime
    example_external_id: str | None = None


class UnmappedReport(BaseModel):
    """Every unmapped value seen on one connection (the API and CLI list these)."""

    values: dict[str, UnmappedValueSeen] = Field(default_factory=dict)

    def record(self, field: MappedField, value: str, external_id: str | None) -> None:
        """Count one sighting of an unmapped value."""
        now = datetime.now(UTC)
        key = f"{field}:{value}"
        seen = self.values.get(key)
        if seen is None:
            seen = UnmappedValueSeen(
                field=field,
                value=value,
                first_seen=now,
                last_seen=now,
                example_external_id=external_id,
            )
            self.values[key] = seen
        seen.count += 1
        seen.last_seen = now

    def as_list(self) -> list[UnmappedValueSeen]:
        """Unmapped values, most frequent first."""
        return sorted(self.values.values(), key=lambda v: (-v.count, v.field, v.value))


class ConnectionMappings(BaseModel):
    """The mapping one MSP configured for one connection.

    ``status``/``priority`` map a vendor value (matched case-insensitively) to a normalised
    value; ``*_write`` choose which vendor value to write for a normalised one when several
    vendor values map to it (default: the first in mapping order).
    """

    status: dict[str, TicketStatus] = Field(default_factory=dict)
    priority: dict[str, TicketPriority] = Field(default_factory=dict)
    status_write: dict[TicketStatus, str] = Field(default_factory=dict)
    priority_write: dict[TicketPriority, str] = Field(default_factory=dict)
    queues: list[str] = Field(
        default_factory=list, description="Only sync tickets in these boards/queues (empty: all)."
    )
    clients: dict[str, str] = Field(
        default_factory=dict, description="Confirmed vendor company id → MSPclaw client id."
    )
    unmapped: UnmappedReport = Field(default_factory=UnmappedReport, exclude=True)

    @classmethod
    def from_spec(cls, spec: ConnectorSpec) -> ConnectionMappings:
        """The defaults a new connection starts from (the MSP edits them afterwards)."""
        return cls.model_validate({"status": spec.default_mappings.status, "priority": spec.default_mappings.priority})

    def _table(self, field: MappedField) -> dict[str, str]:
        return dict(self.status) if field == "status" else dict(self.priority)

    def to_normalised(self, field: MappedField, raw: str | None, *, external_id: str | None = None) -> str | None:
        """The normalised value for a vendor value, or ``None`` (and a report entry)."""
        if raw is None or raw == "":
            return None
        table = self._table(field)
        found = table.get(raw)
        if found is None:
            folded = {k.casefold(): v for k, v in table.items()}
            found = folded.get(raw.casefold())
        if found is None:
            self.unmapped.record(field, raw, external_id)
        return found

    def to_vendor(self, field: MappedField, value: str) -> str:
        """The vendor value to write for a normalised one; raises when none is mapped."""
        if value not in _ALLOWED[field]:
            raise UnmappedValue(f"{value!r} is not a normalised {field}")
        preferred = (self.status_write if field == "status" else self.priority_write).get(
            value  # type: ignore[call-overload]
        )
        if preferred:
            return str(preferred)
        for vendor_value, normal in self._table(field).items():
            if normal == value:
                return vendor_value
        raise UnmappedValue(
            f"no vendor {field} is mapped to {value!r} on this connection; add one to the {field} mapping",
            detail={"field": field, "value": value},
        )

    def queue_allowed(self, queue: str | None) -> bool:
        """Whether a ticket in this board/queue is in scope for this connection."""
        if not self.queues:
            return True
        return queue is not None and queue.casefold() in {q.casefold() for q in self.queues}


class KnownClient(BaseModel):
    """An MSPclaw client a vendor company could be matched to."""

    id: str
    name: str
    domains: list[str] = Field(default_factory=list)


class ClientMatchProposal(BaseModel):
    """A proposed vendor company → MSPclaw client link, awaiting a person's confirmation."""

    vendor_external_id: str
    vendor_name: str
    client_id: str
    client_name: str
    score: float
    reason: str


_SUFFIXES = re.compile(r"\b(inc|incorporated|llc|ltd|limited|gmbh|corp|corporation|co|company|plc|pty|ag|sa|bv)\b\.?")


def _normal_name(name: str) -> str:
    folded = re.sub(r"[^a-z0-9 ]+", " ", name.casefold())
    return " ".join(_SUFFIXES.sub(" ", folded).split())


def propose_client_matches(
    vendor_clients: list[Client],
    known: list[KnownClient],
    *,
    already_mapped: dict[str, str] | None = None,
    min_score: float = 0.85,
) -> list[ClientMatchProposal]:
    """Propose at most one MSPclaw client per vendor company (domain beats name).

    Nothing is applied: a person confirms each proposal, and the confirmed ones go into
    :attr:`ConnectionMappings.clients`.
    """
    mapped = already_mapped or {}
    by_domain = {d.casefold(): k for k in known for d in k.domains}
    proposals: list[ClientMatchProposal] = []
    for vc in vendor_clients:
        if vc.external_id in mapped:
            continue
        best: tuple[float, KnownClient, str] | None = None
        for domain in vc.domains:
            hit = by_domain.get(domain.casefold())
            if hit is not None:
                best = (1.0, hit, f"email domain {domain} matches")
                break
        if best is None:
            vname = _normal_name(vc.name)
            for k in known:
                ratio = difflib.SequenceMatcher(None, vname, _normal_name(k.name)).ratio()
                if ratio >= min_score and (best is None or ratio > best[0]):
                    reason = "same name" if ratio == 1.0 else f"similar name ({ratio:.0%})"
                    best = (ratio, k, reason)
        if best is not None:
            score, hit, reason = best
            proposals.append(
                ClientMatchProposal(
                    vendor_external_id=vc.external_id,
                    vendor_name=vc.name,
                    client_id=hit.id,
                    client_name=hit.name,
                    score=round(score, 3),
                    reason=reason,
                )
            )
    return proposals

"""SDK pure logic: specs, mappings, client matching, cursors, registry, fault plans."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mspclaw.connectors.errors import UnmappedValue
from mspclaw.connectors.mapping import ConnectionMappings, KnownClient, propose_client_matches
from mspclaw.connectors.models import Client, Page, SyncCursor, Ticket, parse_vendor_time
from mspclaw.connectors.registry import UnknownConnector, all_connectors, get_connector
from mspclaw.connectors.simulator import FaultPlan
from mspclaw.connectors.spec import ConnectorSpec


def test_builtin_connectors_are_discoverable_before_entry_points() -> None:
    found = all_connectors()
    assert {"superops", "connectwise", "ninjaone"} <= set(found)
    assert get_connector("superops").spec().kind == "psa"
    with pytest.raises(UnknownConnector):
        get_connector("nope")


def test_absent_capability_needs_a_reason() -> None:
    spec = get_connector("superops").spec().model_dump()
    spec["capabilities"]["webhooks"] = {"supported": False}
    with pytest.raises(ValueError, match="reason"):
        ConnectorSpec.model_validate(spec)


def test_mapping_reports_unmapped_and_never_guesses() -> None:
    m = ConnectionMappings(status={"Waiting on Customer": "waiting", "On Hold": "waiting"})
    assert m.to_normalised("status", "waiting on customer") == "waiting"
    assert m.to_normalised("status", "Parked", external_id="42") is None
    assert m.to_normalised("status", "Parked") is None
    [seen] = m.unmapped.as_list()
    assert (seen.value, seen.count, seen.example_external_id) == ("Parked", 2, "42")
    assert m.to_vendor("status", "waiting") == "Waiting on Customer"
    m.status_write["waiting"] = "On Hold"
    assert m.to_vendor("status", "waiting") == "On Hold"
    with pytest.raises(UnmappedValue):
        m.to_vendor("status", "closed")


def test_queue_filter() -> None:
    m = ConnectionMappings(queues=["Help Desk"])
    assert m.queue_allowed("help desk") and not m.queue_allowed("Projects")
    assert not m.queue_allowed(None) and ConnectionMappings().queue_allowed(None)


def test_client_matches_proposed_by_domain_then_name() -> None:
    vendor = [
        Client(external_id="1", name="Acme Dental LLC", domains=["acmedental.example"]),
        Client(external_id="2", name="Northwind Traders Inc."),
        Client(external_id="3", name="Totally Unknown"),
        Client(external_id="4", name="Globex"),
    ]
    known = [
        KnownClient(id="a", name="ACME (dental)", domains=["acmedental.example"]),
        KnownClient(id="n", name="Northwind Traders"),
        KnownClient(id="g", name="Globex"),
    ]
    proposals = {p.vendor_external_id: p for p in propose_client_matches(vendor, known, already_mapped={"4": "g"})}
    assert proposals["1"].client_id == "a" and "domain" in proposals["1"].reason
    assert proposals["2"].client_id == "n" and proposals["2"].reason == "same name"
    assert "3" not in proposals and "4" not in proposals


def _ticket(ts: datetime) -> Ticket:
    return Ticket(external_id="1", subject="s", updated_at=ts)


def test_sync_cursor_only_moves_forward_and_overlaps() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    cursor = SyncCursor().advanced(Page(items=[_ticket(t0)]))
    assert cursor.updated_since == t0
    assert cursor.advanced(Page(items=[_ticket(t0 - timedelta(days=1))])) == cursor
    assert cursor.window_start(60) == t0 - timedelta(seconds=60)
    assert SyncCursor().window_start() is None
    later = cursor.advanced(Page(items=[], watermark=t0 + timedelta(hours=1)))
    assert later.updated_since == t0 + timedelta(hours=1)


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1)))
def test_vendor_time_formats_agree(naive: datetime) -> None:
    aware = naive.replace(tzinfo=UTC, microsecond=(naive.microsecond // 1000) * 1000)
    texts = [
        aware.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3],
        aware.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        aware.isoformat(),
    ]
    assert {parse_vendor_time(t) for t in texts} == {aware}
    assert parse_vendor_time(int(aware.timestamp())) == aware.replace(microsecond=0)


def test_fault_plan_parsing() -> None:
    plan = FaultPlan.parse("429x5,500x2,timeout,slowx3,malformedx1,dupx2,limit=800")
    assert (plan.rate_limit, plan.server_error, plan.timeout, plan.slow) == (5, 2, 1, 3)
    assert (plan.malformed, plan.duplicate_webhooks, plan.rate_limit_per_minute) == (1, 2, 800)
    with pytest.raises(ValueError, match="unknown fault"):
        FaultPlan.parse("explode")


# --- the ConnectWise conditions language (simulator side) ----------------------------

from hypothesis import settings  # noqa: E402

from mspclaw.connectors.connectwise.conditions import ConditionError, evaluate, parse  # noqa: E402

RECORD = {
    "id": 42,
    "summary": 'Printer "B" jam',
    "closedFlag": False,
    "board": {"name": "Help Desk"},
    "_info": {"lastUpdated": "2026-03-01T10:00:00Z"},
}
OPS = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


@settings(max_examples=60)
@given(st.sampled_from(list(OPS)), st.integers(0, 100), st.sampled_from(["and", "or"]), st.booleans())
def test_conditions_agree_with_python(op: str, n: int, join: str, closed: bool) -> None:
    text = f"id {op} {n} {join} closedFlag={str(closed).lower()}"
    expected_left = OPS[op](42, n)
    expected_right = closed is False
    expected = (expected_left and expected_right) if join == "and" else (expected_left or expected_right)
    assert evaluate(parse(text), RECORD) is expected


def test_conditions_strings_dates_and_lists() -> None:
    assert evaluate(parse(r'summary contains "\"B\""'), RECORD)
    assert evaluate(parse('lastUpdated > [2026-02-28T23:59:59Z] and board/name="help desk"'), RECORD)
    assert evaluate(parse("id in (1, 42) and id != 3"), RECORD)
    assert not evaluate(parse("id not in (42)"), RECORD)
    for broken in ("id = ", "id ~ 3", "(id = 3", 'summary = "open'):
        with pytest.raises(ConditionError):
            parse(broken)

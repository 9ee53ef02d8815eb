"""Alert noise reduction: what a technician would notice about incidents and tickets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mspclaw.triage.noise import (
    AlertEvent,
    MaintenanceWindow,
    NoiseConfig,
    NoiseReducer,
    OutOfOrder,
    fingerprint,
    normalise_message,
)

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def alert(
    minutes: float,
    kind: str = "disk_low",
    host: str = "srv-01",
    *,
    site: str = "acme-hq",
    severity: str = "medium",
    status: str = "firing",
    message: str = "Disk C: 91% used",
) -> AlertEvent:
    return AlertEvent(
        source="rmm",
        kind=kind,
        host=host,
        site=site,
        severity=severity,  # type: ignore[arg-type]
        time=T0 + timedelta(minutes=minutes),
        message=message,
        status=status,  # type: ignore[arg-type]
    )


def quiet_config(**changes: object) -> NoiseConfig:
    """Still learning what is normal, so only severity raises: isolates grouping mechanics."""
    return NoiseConfig(learning_period=timedelta(days=365)).model_copy(update=changes)


def test_volatile_parts_do_not_change_the_fingerprint() -> None:
    a = alert(0, message="Backup job 4411 failed on 10.0.0.4 at C:\\Backups\\daily\\x.vbk")
    b = alert(5, message="Backup job 4412 failed on 10.0.0.9 at C:\\Backups\\weekly\\y.vbk")
    c = alert(5, message="Backup job 4412 succeeded on 10.0.0.9")
    assert fingerprint(a) == fingerprint(b)
    assert fingerprint(a) != fingerprint(c)
    assert "<guid>" in normalise_message("agent 3f2b8c1e-1234-4abc-9def-0123456789ab lost")


def test_repeats_are_deduplicated_into_one_incident() -> None:
    reducer = NoiseReducer(quiet_config())
    first = reducer.ingest(alert(0))
    repeats = [reducer.ingest(alert(m)) for m in (1, 2, 3)]
    assert first.action == "new_incident"
    assert {d.action for d in repeats} == {"deduplicated"}
    assert {d.incident_id for d in repeats} == {first.incident_id}
    assert len(reducer.open_incidents) == 1
    assert reducer.open_incidents[0].alert_count == 4


def test_different_kinds_on_one_host_correlate() -> None:
    reducer = NoiseReducer(quiet_config())
    disk = reducer.ingest(alert(0, "disk_low"))
    cpu = reducer.ingest(alert(2, "cpu_high", message="CPU 99%"))
    other_host = reducer.ingest(alert(3, "cpu_high", host="ws-07", message="CPU 99%"))
    assert cpu.action == "correlated" and cpu.incident_id == disk.incident_id
    assert other_host.incident_id != disk.incident_id


def test_quiet_gap_starts_a_new_incident() -> None:
    reducer = NoiseReducer(quiet_config(incident_gap=timedelta(minutes=30)))
    first = reducer.ingest(alert(0))
    later = reducer.ingest(alert(120))
    assert later.action == "new_incident"
    assert later.incident_id != first.incident_id
    assert reducer.closed[-1].id == first.incident_id


def test_flapping_alert_is_suppressed() -> None:
    reducer = NoiseReducer(quiet_config(flap_threshold=3))
    fired = []
    for cycle in range(5):
        fired.append(reducer.ingest(alert(cycle * 4, "ping_loss", message="ping lost")))
        reducer.ingest(alert(cycle * 4 + 2, "ping_loss", message="ping lost", status="resolved"))
    assert fired[0].action == "new_incident"
    assert fired[-1].action == "suppressed_flapping"


def test_maintenance_window_suppresses_alerts_in_scope() -> None:
    window = MaintenanceWindow(start=T0, end=T0 + timedelta(hours=1), site="acme-hq", host="srv-01", reason="patching")
    reducer = NoiseReducer(quiet_config(), maintenance=[window])
    inside = reducer.ingest(alert(10, severity="critical"))
    other_host = reducer.ingest(alert(11, host="srv-02"))
    after = reducer.ingest(alert(61))
    assert inside.action == "suppressed_maintenance" and not inside.raise_ticket
    assert inside.reason == "patching"
    assert other_host.action == "new_incident"
    assert after.action == "new_incident"


def test_incident_auto_resolves_when_source_recovers() -> None:
    reducer = NoiseReducer(quiet_config())
    opened = reducer.ingest(alert(0, "service_down", message="Service Spooler stopped"))
    still = reducer.ingest(alert(1, "disk_low"))
    one = reducer.ingest(alert(5, "service_down", message="Service Spooler stopped", status="resolved"))
    both = reducer.ingest(alert(6, "disk_low", status="resolved"))
    assert still.incident_id == opened.incident_id
    assert one.action == "resolved_signal"
    assert both.action == "auto_resolved" and both.incident_id == opened.incident_id
    assert reducer.incident(opened.incident_id).status == "resolved"  # type: ignore[union-attr]


def test_high_severity_is_worth_a_human_but_routine_noise_is_not() -> None:
    reducer = NoiseReducer(NoiseConfig(learning_period=timedelta(hours=1)))
    routine = [reducer.ingest(alert(m, "login_ok", host="mail")) for m in range(0, 180, 3)]
    critical = reducer.ingest(alert(181, "raid_degraded", host="nas", severity="critical"))
    assert not any(d.raise_ticket for d in routine)
    assert critical.raise_ticket
    assert "critical" in critical.reason


def warmed_up() -> NoiseReducer:
    """A reducer that has learnt two hours of routine mail logins (learning period: one hour)."""
    reducer = NoiseReducer(NoiseConfig(learning_period=timedelta(hours=1)))
    for m in range(0, 120, 2):
        reducer.ingest(alert(m, "login_ok", host="mail"))
    return reducer


def test_new_kind_after_learning_raises_once_with_reason() -> None:
    reducer = warmed_up()
    novel = reducer.ingest(alert(121, "sudo_to_root", host="web"))
    again = reducer.ingest(alert(122, "sudo_to_root", host="web"))
    assert novel.raise_ticket and "never seen" in novel.reason
    assert not again.raise_ticket and again.incident_id == novel.incident_id
    # the site's alerts leading up to the trigger come along as context
    assert novel.attached


def test_attack_chain_across_hosts_is_one_ticket() -> None:
    reducer = warmed_up()
    scan = reducer.ingest(alert(121, "port_scan", host="fw"))
    shell = reducer.ingest(alert(130, "webshell", host="web"))
    other_site = reducer.ingest(alert(131, "webshell", host="web", site="globex"))
    assert scan.raise_ticket
    assert not shell.raise_ticket
    assert shell.incident_id == scan.incident_id
    assert other_site.raise_ticket and other_site.incident_id != scan.incident_id
    chain = reducer.incident(scan.incident_id)
    assert chain is not None and {"fw", "web"} <= chain.hosts


def test_out_of_order_alerts_are_rejected() -> None:
    reducer = NoiseReducer(quiet_config())
    reducer.ingest(alert(10))
    with pytest.raises(OutOfOrder):
        reducer.ingest(alert(0))


def test_naive_time_is_rejected() -> None:
    with pytest.raises(ValueError):
        AlertEvent(source="rmm", kind="x", host="h", time=datetime(2026, 1, 1))


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=30),
            st.sampled_from(["a", "b", "c", "d"]),
            st.integers(min_value=0, max_value=500),
            st.sampled_from(["firing", "firing", "resolved"]),
        ),
        max_size=200,
    )
)
def test_state_stays_bounded(steps: list[tuple[int, str, int, str]]) -> None:
    config = quiet_config(max_tracked_keys=20, max_open_incidents=10)
    reducer = NoiseReducer(config)
    minute = 0.0
    for gap, kind, host, status in steps:
        minute += gap
        reducer.ingest(alert(minute, kind, host=f"h{host}", status=status))
    size = reducer.state_size()
    assert size["incidents"] <= config.max_open_incidents + 1
    for key in ("learnt_keys", "fingerprints", "flap_histories"):
        assert size[key] <= config.max_tracked_keys


def test_same_alert_across_many_hosts_is_one_site_ticket() -> None:
    reducer = warmed_up()
    decisions = [
        reducer.ingest(alert(130 + n * 0.5, "agent_offline", host=f"ws-{n:02d}", message="offline")) for n in range(8)
    ]
    # the first host going offline is news (new kind); the spread keeps the rest on its ticket
    assert sum(d.raise_ticket for d in decisions) == 1
    assert len({d.incident_id for d in decisions}) == 1


def test_spread_over_hosts_raises_even_for_a_known_kind() -> None:
    reducer = NoiseReducer(NoiseConfig(learning_period=timedelta(hours=1)))
    for m in range(0, 120, 2):
        # every workstation went offline while learning, but never more than two together
        host = f"ws-{m // 10}" if m < 60 else "ws-0"
        reducer.ingest(alert(m, "agent_offline", host=host, message="offline"))
    burst = [reducer.ingest(alert(130 + n * 0.5, "agent_offline", host=f"ws-{n}", message="offline")) for n in range(6)]
    raised = [d for d in burst if d.raise_ticket]
    assert len(raised) == 1 and "on 5 hosts" in raised[0].reason

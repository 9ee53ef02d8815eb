"""Urgency scoring: wording, signals, negation, explainability and the vendor scale mapping."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mspclaw.errors import InvalidInput
from mspclaw.triage.urgency import (
    BusinessHours,
    UrgencySignals,
    map_to_priority_scale,
    score_urgency,
)


def test_outage_for_whole_office_is_critical_and_explained() -> None:
    result = score_urgency("Server is down, the whole office can't work. Urgent!")
    assert result.priority == "critical"
    names = {f.name for f in result.factors}
    assert {
        "wording:outage",
        "wording:whole office",
        "wording:can't work",
        "wording:urgent",
    } <= names
    assert sum(f.points for f in result.factors) >= result.score


def test_routine_request_is_low() -> None:
    result = score_urgency("Could you install Adobe Reader on my laptop please")
    assert result.priority == "low"
    assert [f.name for f in result.factors] == ["base"]


def test_word_boundaries_ignore_download() -> None:
    assert score_urgency("please download the new template").score == score_urgency("hello").score


@pytest.mark.parametrize("phrase", ["please shut down my PC tonight", "scroll down the page", "slow down the fan"])
def test_phrasal_down_is_not_an_outage(phrase: str) -> None:
    assert "wording:outage" not in {f.name for f in score_urgency(phrase).factors}
    assert "wording:outage" in {f.name for f in score_urgency("file server down").factors}


def test_negation_lowers_instead_of_raising() -> None:
    plain = score_urgency("printer toner is low")
    negated = score_urgency("printer toner is low, not urgent")
    urgent = score_urgency("printer toner is low, urgent")
    assert negated.score < plain.score < urgent.score
    assert "wording:urgent" not in {f.name for f in negated.factors}


def test_signals_raise_score_with_factors() -> None:
    text = "Email is slow"
    plain = score_urgency(text)
    rich = score_urgency(
        text,
        UrgencySignals(
            vip_contact=True,
            sla_tier="platinum",
            device_role="domain_controller",
            alert_severity="critical",
            affected_users=60,
        ),
    )
    assert rich.score > plain.score
    assert rich.priority == "critical"
    by_name = {f.name: f for f in rich.factors}
    assert by_name["device_role"].evidence == "domain_controller"
    assert by_name["affected_users"].points > 0


def test_ransomware_alone_is_at_least_high() -> None:
    assert score_urgency("I think we have ransomware").priority in {"high", "critical"}


def test_after_hours_adds_points() -> None:
    hours = BusinessHours(timezone="Europe/Berlin", start=time(8), end=time(17))
    saturday = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    tuesday_noon = datetime(2026, 11, 17, 11, 0, tzinfo=UTC)
    after = score_urgency("VPN down", UrgencySignals(now=saturday, business_hours=hours))
    inside = score_urgency("VPN down", UrgencySignals(now=tuesday_noon, business_hours=hours))
    assert after.score > inside.score
    assert any(f.evidence == "outside business hours" for f in after.factors)


def test_unknown_timezone_is_rejected() -> None:
    with pytest.raises(ValueError):
        BusinessHours(timezone="Mars/Olympus")


@pytest.mark.parametrize(
    ("score", "scale", "expected"),
    [
        (0, ["P4", "P3", "P2", "P1"], "P4"),
        (30, ["P4", "P3", "P2", "P1"], "P3"),
        (80, ["P4", "P3", "P2", "P1"], "P1"),
        (100, ["Low", "Medium", "High"], "High"),
        (50, ["only"], "only"),
    ],
)
def test_map_to_priority_scale(score: int, scale: list[str], expected: str) -> None:
    assert map_to_priority_scale(score, scale) == expected


def test_empty_scale_is_an_error() -> None:
    with pytest.raises(InvalidInput):
        map_to_priority_scale(50, [])


_words = st.sampled_from(["down", "outage", "everyone", "urgent", "not urgent", "no rush", "printer", "asap", "fyi"])
_signals = st.builds(
    UrgencySignals,
    vip_contact=st.booleans(),
    sla_tier=st.sampled_from([None, "platinum", "gold", "silver", "bronze"]),
    device_role=st.sampled_from([None, "server", "domain_controller", "firewall", "laptop"]),
    alert_severity=st.sampled_from([None, "critical", "high", "medium", "low", "info"]),
    affected_users=st.one_of(st.none(), st.integers(min_value=0, max_value=10_000)),
)


@given(text=st.text(max_size=200), words=st.lists(_words, max_size=8), signals=_signals)
def test_score_always_in_range(text: str, words: list[str], signals: UrgencySignals) -> None:
    result = score_urgency(text + " " + " ".join(words), signals)
    assert 0 <= result.score <= 100
    assert map_to_priority_scale(result.score, ["a", "b", "c"]) in {"a", "b", "c"}


@given(
    words=st.lists(_words, max_size=6),
    signals=_signals,
    aggravation=st.sampled_from(["vip", "platinum", "server", "critical", "users", "down", "ransomware", "everyone"]),
)
def test_aggravating_factor_never_lowers(words: list[str], signals: UrgencySignals, aggravation: str) -> None:
    text = " ".join(words)
    before = score_urgency(text, signals).score
    worse = signals.model_copy()
    if aggravation == "vip":
        worse.vip_contact = True
    elif aggravation == "platinum":
        worse.sla_tier = "platinum"
    elif aggravation == "server":
        worse.device_role = "domain_controller"
    elif aggravation == "critical":
        worse.alert_severity = "critical"
    elif aggravation == "users":
        worse.affected_users = max(signals.affected_users or 0, 0) + 100
    else:
        text = f"{text}. {aggravation}."
    assert score_urgency(text, worse).score >= before


@pytest.mark.parametrize(
    "text",
    [
        "all\tusers locked out",
        "as\nsoon as possible",
        "right\naway please",
        "printer\nnot responding",
        "when you have\ntime, no\nrush",
        "Encrypted all our files",
        "customers can't order",
    ],
)
def test_wording_survives_odd_whitespace(text: str) -> None:
    assert len(score_urgency(text).factors) > 1

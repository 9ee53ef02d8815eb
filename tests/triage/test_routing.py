"""Routing: technician ranking with reasons, and the queue text model."""

from __future__ import annotations

import pytest

from mspclaw.errors import InvalidInput
from mspclaw.triage.routing import (
    QueueTicket,
    TechnicianProfile,
    TicketFeatures,
    normalise_ticket_text,
    recommend,
    train_queue_model,
)

TEAM = [
    TechnicianProfile(id="ana", skills={"vpn", "wifi"}, open_load=2, resolved_intents={"vpn": 40}),
    TechnicianProfile(id="bo", skills={"printer"}, clients_owned={"acme"}, open_load=1),
    TechnicianProfile(id="cy", skills={"vpn"}, clients_owned={"acme"}, open_load=9),
    TechnicianProfile(id="dee", skills={"vpn"}, clients_owned={"acme"}, available=False),
]


def test_skill_history_and_ownership_rank_with_reasons() -> None:
    ranked = recommend(TicketFeatures(intent="vpn", client="acme"), TEAM)
    assert [r.technician_id for r in ranked][:2] == ["ana", "cy"]
    assert "dee" not in {r.technician_id for r in ranked}  # not available
    top = ranked[0]
    assert any("skills vpn" in reason for reason in top.reasons)
    assert any("resolved 40 vpn" in reason for reason in top.reasons)
    assert ranked == sorted(ranked, key=lambda r: -r.score)


def test_owner_wins_when_skills_tie() -> None:
    ranked = recommend(TicketFeatures(intent="printer", client="acme"), TEAM)
    assert ranked[0].technician_id == "bo"
    assert any("owns client acme" in reason for reason in ranked[0].reasons)


def test_urgent_ticket_weighs_load_more() -> None:
    calm = {r.technician_id: r.score for r in recommend(TicketFeatures(intent="vpn"), TEAM)}
    urgent = {r.technician_id: r.score for r in recommend(TicketFeatures(intent="vpn", urgency=90), TEAM)}
    assert calm["cy"] - urgent["cy"] > calm["ana"] - urgent["ana"] > 0


def test_ranking_is_deterministic_with_id_tiebreak() -> None:
    twins = [TechnicianProfile(id=name) for name in ("zed", "amy", "kim")]
    ranked = recommend(TicketFeatures(intent="email"), twins)
    assert [r.technician_id for r in ranked] == ["amy", "kim", "zed"]
    assert recommend(TicketFeatures(intent="email"), list(reversed(twins))) == ranked


def test_normalise_strips_export_artefacts() -> None:
    text = normalise_ticket_text(
        "received from: abc@x.com_x000D_Job_3028 FAILED at: 10/30/2016 02:20:00, call 0123456789"
    )
    assert "abc" not in text and "_x000d_" not in text
    assert "job_3028 failed" in text  # identifiers that route stay
    assert "2016" not in text and "02:20" not in text and "0123456789" not in text


def _corpus() -> tuple[list[QueueTicket], list[str]]:
    rows = [
        ("password reset", "please reset my password, account locked", "u1", "desk"),
        ("locked out", "my account is locked after password change", "u2", "desk"),
        ("cannot login", "login fails, forgot password", "u3", "desk"),
        ("job failed", "job_scheduler job 4411 failed at 02:00", "monitor", "batch"),
        ("job abended", "abended job in job_scheduler: payroll", "monitor", "batch"),
        ("job failure", "job 17 failed in job_scheduler", "monitor", "batch"),
        ("drucker", "drucker druckt nicht im buero", "u4", "german"),
        ("probleme mit drucker", "drucker offline seit heute", "u5", "german"),
        ("drucker papierstau", "papierstau im drucker", "u6", "german"),
    ]
    tickets = [QueueTicket(subject=s, body=b, caller=c) for s, b, c, _ in rows]
    return tickets, [q for *_, q in rows]


def test_queue_model_learns_queues_and_reports_margin() -> None:
    tickets, queues = _corpus()
    model = train_queue_model(tickets, queues)
    assert sorted(model.queues) == ["batch", "desk", "german"]
    predictions = model.predict(
        [
            QueueTicket(subject="job failed", body="job 99 failed in job_scheduler"),
            QueueTicket(subject="password", body="reset my password please"),
            QueueTicket(subject="drucker", body="der drucker geht nicht"),
        ]
    )
    assert [p.queue for p in predictions] == ["batch", "desk", "german"]
    assert all(p.margin > 0 and p.runner_up not in {None, p.queue} for p in predictions)


def test_queue_model_needs_two_queues() -> None:
    tickets, _ = _corpus()
    with pytest.raises(InvalidInput):
        train_queue_model(tickets, ["desk"] * len(tickets))

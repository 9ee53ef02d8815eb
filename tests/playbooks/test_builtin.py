"""The 15 built-in playbooks: they lint clean, their declared examples pass, and each
dry-runs against a realistic sample ticket with a plan whose arguments validate."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mspclaw.playbooks import (
    TicketContext,
    builtin_playbooks,
    get_builtin,
    lint_loaded,
    match_playbooks,
    resolve_plan,
    run_examples,
)
from mspclaw.tools import get_tool
from mspclaw.triage.taxonomy import INTENT_IDS

BUILTIN = builtin_playbooks()

#: one sample ticket per playbook (intent, text, device) + inputs a technician would give
SAMPLES: dict[str, tuple[dict[str, object], dict[str, object]]] = {
    "password-reset": (
        {
            "ticket": {"subject": "Forgot my password", "intent": "password_reset"},
            "contact": {"email": "jane@example.com", "phone": "+15550100"},
        },
        {},
    ),
    "account-lockout": (
        {
            "ticket": {"subject": "Locked out", "intent": "account_lockout"},
            "contact": {"email": "jane@example.com"},
        },
        {},
    ),
    "mfa-reregistration": (
        {
            "ticket": {"subject": "Lost phone, authenticator", "intent": "mfa"},
            "contact": {"email": "jane@example.com"},
        },
        {},
    ),
    "printer-queue": (
        {"ticket": {"subject": "Printer offline", "intent": "printer"}, "device": {"os": "linux"}},
        {},
    ),
    "wifi-connectivity": (
        {"ticket": {"subject": "Wi-Fi drops", "intent": "wifi"}, "device": {"os": "linux"}},
        {},
    ),
    "vpn-connectivity": (
        {
            "ticket": {"subject": "VPN down", "intent": "vpn"},
            "device": {"os": "macos"},
            "client": {"vpn_gateway": "vpn.acme.example"},
        },
        {},
    ),
    "slow-computer": (
        {"ticket": {"subject": "PC slow", "intent": "slow_computer"}, "device": {"os": "windows"}},
        {},
    ),
    "low-disk-space": (
        {"ticket": {"subject": "Disk full", "intent": "disk_space"}, "device": {"os": "linux"}},
        {},
    ),
    "email-sync": (
        {
            "ticket": {"subject": "Outlook not syncing", "intent": "email"},
            "contact": {"email": "jane@example.com"},
            "device": {"os": "windows"},
        },
        {},
    ),
    "software-install": (
        {
            "ticket": {"subject": "Install Firefox", "intent": "software_install"},
            "device": {"os": "linux"},
        },
        {"package": "firefox"},
    ),
    "software-update": (
        {
            "ticket": {"subject": "Update Slack", "intent": "software_install"},
            "device": {"os": "windows"},
        },
        {"package": "slack"},
    ),
    "onboarding": (
        {
            "ticket": {
                "subject": "New starter",
                "intent": "onboarding",
                "new_user_email": "new@example.com",
                "new_user_name": "New Person",
            }
        },
        {},
    ),
    "offboarding": (
        {
            "ticket": {
                "subject": "Leaver",
                "intent": "offboarding",
                "leaver_email": "old@example.com",
            }
        },
        {},
    ),
    "access-request": (
        {
            "ticket": {
                "subject": "Shared folder access",
                "intent": "access_request",
                "access_group": "Finance RW",
            },
            "contact": {"email": "jane@example.com"},
        },
        {"resource_type": "shared_folder"},
    ),
    "phishing-report": (
        {
            "ticket": {"subject": "Phishing email", "intent": "security_alert"},
            "contact": {"email": "jane@example.com"},
        },
        {"clicked": True},
    ),
}


def test_there_are_fifteen_with_unique_ids_and_taxonomy_intents() -> None:
    assert len(BUILTIN) == 15
    assert set(SAMPLES) == set(BUILTIN)
    for loaded in BUILTIN.values():
        assert set(loaded.playbook.triggers.intents) <= set(INTENT_IDS)
        assert loaded.content_hash.startswith("sha256:")


@pytest.mark.parametrize("playbook_id", sorted(BUILTIN))
def test_lints_clean(playbook_id: str) -> None:
    assert [str(p) for p in lint_loaded(BUILTIN[playbook_id])] == []


@pytest.mark.parametrize("playbook_id", sorted(BUILTIN))
def test_declared_examples_pass(playbook_id: str) -> None:
    results = run_examples(BUILTIN[playbook_id])
    assert results, "every built-in declares at least one example"
    assert [(r.name, r.failures) for r in results if not r.passed] == []


@pytest.mark.parametrize("playbook_id", sorted(BUILTIN))
def test_dry_runs_against_a_sample_ticket(playbook_id: str) -> None:
    raw, inputs = SAMPLES[playbook_id]
    context = TicketContext.model_validate(raw)
    # the matcher puts this playbook first for its own sample ticket
    assert match_playbooks(BUILTIN.values(), context)[0].playbook_id == playbook_id
    plan = resolve_plan(BUILTIN[playbook_id], context, inputs)
    assert plan.playbook_id == playbook_id and plan.ids("run")
    for step in plan.steps:
        spec = get_tool(step.tool)
        if step.status == "run" and not step.deferred_args:
            spec.validate_args(step.args)  # fully rendered: the real tool accepts it
        if spec.risk == "destructive" and step.status != "skipped":
            assert step.id in plan.approvals_needed
        assert step.backend in [b.kind for b in spec.backends]


def test_per_os_steps_follow_the_device() -> None:
    wifi = get_builtin("wifi-connectivity")
    base = {"ticket": {"subject": "wifi", "intent": "wifi"}}
    statuses = {}
    for os_name in ("windows", "macos", "linux"):
        plan = resolve_plan(wifi, TicketContext.model_validate({**base, "device": {"os": os_name}}))
        statuses[os_name] = {s.id: s.status for s in plan.steps}
    assert statuses["windows"]["restart_wlan"] == "conditional"
    assert statuses["windows"]["restart_network_manager"] == "skipped"
    assert statuses["linux"]["restart_network_manager"] == "conditional"
    assert statuses["macos"]["restart_wlan"] == statuses["macos"]["restart_network_manager"] == "skipped"
    unknown = resolve_plan(wifi, TicketContext.model_validate(base))
    assert {s.id: s.status for s in unknown.steps}["restart_wlan"] == "conditional"


def test_rmm_only_device_gets_the_rmm_backend() -> None:
    plan = resolve_plan(
        get_builtin("low-disk-space"),
        TicketContext.model_validate(
            {
                "ticket": {"intent": "disk_space"},
                "device": {"os": "windows", "agent": False, "rmm": True},
            }
        ),
    )
    assert {s.backend for s in plan.steps} == {"rmm_script"}
    unreachable = resolve_plan(
        get_builtin("low-disk-space"),
        TicketContext.model_validate({"ticket": {"intent": "disk_space"}, "device": {"os": "windows", "agent": False}}),
    )
    assert {s.status for s in unreachable.steps} == {"skipped"}


@settings(max_examples=60, deadline=None)
@given(
    playbook_id=st.sampled_from(sorted(SAMPLES)),
    os_name=st.sampled_from([None, "windows", "macos", "linux"]),
    agent=st.booleans(),
    rmm=st.booleans(),
)
def test_plan_invariants_on_any_device(playbook_id: str, os_name: str | None, agent: bool, rmm: bool) -> None:
    raw, inputs = SAMPLES[playbook_id]
    context = TicketContext.model_validate(
        {**raw, "device": {**dict(raw.get("device") or {}), "os": os_name, "agent": agent, "rmm": rmm}}  # type: ignore[dict-item]
    )
    plan = resolve_plan(BUILTIN[playbook_id], context, inputs)
    steps = {s.id: s for _, s in BUILTIN[playbook_id].playbook.all_steps()}
    for planned in plan.steps:
        spec = get_tool(planned.tool)
        if planned.status == "skipped":
            continue
        if spec.risk == "destructive":
            assert planned.id in plan.approvals_needed
        assert planned.backend is not None and spec.backend(planned.backend) is not None
        declared_os = steps[planned.id].os
        if declared_os is not None and planned.status == "run":
            assert os_name in declared_os
        if planned.backend in ("endpoint", "rmm_script"):
            assert agent if planned.backend == "endpoint" else rmm

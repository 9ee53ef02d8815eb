"""Matching playbooks to tickets: intent first, whole-word keywords, OS/client scope,
deterministic tie-breaking, and the reasons for each candidate."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from mspclaw.playbooks import (
    Playbook,
    TicketContext,
    builtin_playbooks,
    keyword_matches,
    match_playbooks,
)


def _pb(pid: str, priority: int = 0, **triggers: object) -> Playbook:
    return Playbook.model_validate(
        {
            "id": pid,
            "title": pid,
            "version": "1.0.0",
            "priority": priority,
            "triggers": triggers,
            "tools": ["system_info"],
            "steps": [{"id": "s", "tool": "system_info"}],
        }
    )


def _ctx(**ticket: object) -> TicketContext:
    device = ticket.pop("device", {})
    client = ticket.pop("client", {})
    return TicketContext.model_validate({"ticket": ticket, "device": device, "client": client})


def test_print_does_not_match_sprint() -> None:
    assert not keyword_matches("print", "Please plan the next sprint")
    assert not keyword_matches("print", "blueprints attached")
    assert keyword_matches("print", "I cannot print, help")
    assert keyword_matches("print queue", "the Print\n  Queue is stuck")
    assert keyword_matches("wi-fi", "no Wi-Fi today")
    printer = builtin_playbooks()["printer-queue"]
    assert match_playbooks([printer], _ctx(subject="sprint review", body="sprint board")) == []


def test_intent_outranks_keywords() -> None:
    by_intent = _pb("by-intent", intents=["vpn"])
    by_words = _pb("by-words", keywords=["vpn", "tunnel", "remote access"])
    ranked = match_playbooks([by_words, by_intent], _ctx(intent="vpn", subject="VPN tunnel remote access down"))
    assert [c.playbook_id for c in ranked] == ["by-intent", "by-words"]
    assert ranked[0].reasons == ["intent vpn"]
    assert ranked[1].reasons == ["keywords: vpn, tunnel, remote access"]


def test_os_and_client_scope_filter_and_score() -> None:
    windows_only = _pb("win", intents=["printer"], os=["windows"])
    acme_only = _pb("acme", intents=["printer"], clients=["acme"])
    generic = _pb("generic", intents=["printer"])
    mac = _ctx(intent="printer", device={"os": "macos"}, client={"id": "globex"})
    assert [c.playbook_id for c in match_playbooks([windows_only, acme_only, generic], mac)] == ["generic"]
    acme_win = _ctx(intent="printer", device={"os": "windows"}, client={"id": "acme"})
    ranked = match_playbooks([windows_only, acme_only, generic], acme_win)
    assert [c.playbook_id for c in ranked] == ["acme", "win", "generic"]
    assert "limited to this client" in ranked[0].reasons


def test_alert_kind_matches_without_intent() -> None:
    disk = builtin_playbooks()["low-disk-space"]
    ranked = match_playbooks([disk], _ctx(subject="C: 3% free", alert_kind="disk_space_low"))
    assert ranked[0].reasons == ["alert kind disk_space_low"]


def test_ties_break_by_priority_then_specificity_then_id() -> None:
    a = _pb("a", intents=["wifi"])
    b = _pb("b", intents=["wifi"], priority=5)
    c = _pb("c", intents=["wifi"], os=["linux", "windows", "macos"])
    d = _pb("d", intents=["wifi"])
    ctx = _ctx(intent="wifi")
    ranked = [x.playbook_id for x in match_playbooks([d, c, a, b], ctx)]
    assert ranked == ["b", "c", "a", "d"]
    assert ranked == [x.playbook_id for x in match_playbooks([a, b, c, d], ctx)]


def test_unrelated_ticket_matches_nothing_builtin() -> None:
    ctx = _ctx(intent="hardware", subject="Monitor flickers", body="the screen flickers")
    assert match_playbooks(builtin_playbooks().values(), ctx) == []


WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8)


@given(WORD, WORD, WORD)
def test_keyword_inside_a_longer_word_never_matches(prefix: str, keyword: str, suffix: str) -> None:
    text = f"see {prefix}{keyword}{suffix} now"
    expected = re.search(rf"\b{keyword}\b", text) is not None
    assert keyword_matches(keyword, text) is expected
    # glued to letters on both sides it is part of a longer word: never a match
    assert not keyword_matches(keyword, f"{prefix}{keyword}{suffix}")


@given(st.lists(WORD, min_size=1, max_size=6), WORD, st.sampled_from([" ", ", ", ". ", "\n", "("]))
def test_keyword_as_a_whole_word_always_matches(words: list[str], keyword: str, sep: str) -> None:
    text = sep.join([*words, keyword.upper(), *words])
    assert keyword_matches(keyword, text)


@given(
    st.text(max_size=30),
    st.text(min_size=1, max_size=10).filter(lambda k: any(ch.isalnum() for ch in k)),
)
def test_keyword_matching_never_raises_on_arbitrary_text(text: str, keyword: str) -> None:
    keyword_matches(keyword, text)  # regex metacharacters in keywords are escaped


def test_triaged_tickets_match_through_the_offline_engine() -> None:
    from mspclaw.playbooks import context_from_triage
    from mspclaw.triage.engine import triage_text

    subject, body = "Printer not printing", "The office printer shows offline and jobs are stuck in the queue"
    result = triage_text(subject, body)
    ranked = match_playbooks(builtin_playbooks().values(), context_from_triage(subject, body, result))
    assert ranked and ranked[0].playbook_id == "printer-queue"
    # an "unsure" classification never counts as an intent
    unsure = result.model_copy(update={"intent": "unsure"})
    ctx = context_from_triage(subject, body, unsure)
    assert ctx.ticket.intent is None
    assert match_playbooks(builtin_playbooks().values(), ctx)[0].reasons[0].startswith("keywords:")

"""The words written back to the PSA: a resolution note, or an escalation package."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from mspclaw.runs.models import Approval, Run, RunStep

MAX_EVIDENCE = 400


def _evidence(output: dict[str, Any] | None) -> str:
    if not output:
        return ""
    text = json.dumps(output, default=str, sort_keys=True)
    return text if len(text) <= MAX_EVIDENCE else text[: MAX_EVIDENCE - 1] + "…"


def step_lines(steps: Sequence[RunStep]) -> list[str]:
    """One line per recorded step: what ran, where, how it ended, with its evidence."""
    lines = []
    for step in steps:
        mark = {"succeeded": "✔", "failed": "✖", "skipped": "–"}.get(step.status, "•")
        line = f"{mark} {step.phase}/{step.step_id}: {step.tool} [{step.status}]"
        if step.error:
            line += f" — {step.error}"
        evidence = _evidence(step.output)
        if evidence:
            line += f"\n    evidence: {evidence}"
        lines.append(line)
    return lines


def resolution_note(run: Run, steps: Sequence[RunStep]) -> str:
    """The internal note for a run that succeeded."""
    return "\n".join(
        [
            f"MSPclaw resolved this with playbook {run.playbook_id} v{run.playbook_version} (run {run.id}).",
            "",
            *step_lines(steps),
            "",
            "Verification passed. Reply to this ticket if the problem comes back.",
        ]
    )


def escalation_package(
    run: Run,
    steps: Sequence[RunStep],
    *,
    similar: Sequence[dict[str, Any]] = (),
    routed_to: str | None = None,
    routing_reasons: Sequence[str] = (),
    declined: Sequence[Approval] = (),
) -> str:
    """What a technician needs to pick the ticket up: tried, why it failed, what next, who."""
    failed = [s for s in steps if s.status == "failed"]
    why = stop_reason(run, steps, declined)
    next_steps = []
    if run.status == "rolled_back":
        next_steps.append("The changes were rolled back; check the device state before retrying.")
    if failed:
        next_steps.append(f"Investigate {failed[-1].tool} on the device: it failed at step {failed[-1].step_id}.")
    if declined or any("approval" in (s.error or "") for s in steps) or "approval" in (run.error or ""):
        next_steps.append("An approval was denied or expired: confirm with the client before re-running.")
    next_steps.append("Contact the user to confirm the symptoms are still present.")
    lines = [
        f"MSPclaw could not finish this automatically (playbook {run.playbook_id} v{run.playbook_version}, "
        f"run {run.id}, status {run.status}).",
        "",
        "What was tried:",
        *(step_lines(steps) or ["(no step ran)"]),
        "",
        f"Why it stopped: {why}",
        "",
        "Suggested next steps:",
        *[f"- {s}" for s in next_steps],
    ]
    if similar:
        lines += ["", "Similar past tickets and how they were resolved:"]
        for item in list(similar)[:3]:
            subject = item.get("subject") or item.get("title") or item.get("ticket_id")
            resolution = item.get("resolution") or item.get("resolved_how") or "no resolution recorded"
            lines.append(f"- {subject}: {str(resolution)[:200]}")
    if routed_to:
        lines += ["", f"Routed to {routed_to}: {'; '.join(routing_reasons) or 'best available'}."]
    return "\n".join(lines)


def declined_line(approval: Approval) -> str:
    """One approval a technician declined (or nobody decided in time)."""
    if approval.status == "expired":
        return f"nobody approved {approval.tool} (step {approval.step_id}) before the approval expired"
    who = approval.decided_by or "a technician"
    reason = f": {approval.reason}" if approval.reason else ""
    return f"{who} declined {approval.tool} (step {approval.step_id}){reason}"


def stop_reason(run: Run, steps: Sequence[RunStep], declined: Sequence[Approval] = ()) -> str:
    """Why the run did not finish, in one line (a declined approval says so first)."""
    if declined:
        return "; ".join(declined_line(a) for a in declined)
    failed = [s for s in steps if s.status == "failed"]
    return run.error or (failed[-1].error if failed else None) or f"the run ended {run.status}"


def ticket_label(number: str | None, external_id: str, subject: str) -> str:
    """How technicians name a ticket in a chat message: '#1234 Printer offline'."""
    return f"#{number or external_id} {subject[:120]}"


def escalation_message(
    *,
    label: str,
    client: str | None,
    playbook: str | None,
    why: str,
    routed_to: str | None,
    run_id: str | None,
    headline: str = "MSPclaw escalation",
) -> tuple[str, str]:
    """Title and body of the escalation notification: the summary, not the evidence (that is in the PSA note)."""
    lines = [
        f"Ticket {label}" + (f" for {client}" if client else ""),
        f"Playbook: {playbook}" if playbook else "No playbook could handle it safely.",
        f"Why: {why}",
        f"Routed to: {routed_to or 'nobody matched; please pick it up'}",
    ]
    if run_id:
        lines.append(f"Run: {run_id} (steps and evidence are in the ticket's internal note)")
    return f"{headline}: {label}"[:300], "\n".join(lines)


def public_reply(run: Run, feedback_url: str | None) -> str:
    """The reply the end user sees: what was done in plain words, and the 'did this fix it?' link."""
    lines = [
        "Hello, we have worked on your request automatically.",
        f"What we did: {run.note or run.playbook.get('title') or run.playbook_id}",
    ]
    if feedback_url:
        lines += [
            "",
            f"Did this fix the problem? Please tell us (yes / no / partly): {feedback_url}",
        ]
    else:
        lines.append("If the problem comes back, reply to this ticket.")
    return "\n".join(lines)

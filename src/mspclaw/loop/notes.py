"""The words written back to the PSA: a resolution note, or an escalation package."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from mspclaw.runs.models import Run, RunStep

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
) -> str:
    """What a technician needs to pick the ticket up: tried, why it failed, what next, who."""
    failed = [s for s in steps if s.status == "failed"]
    why = run.error or (failed[-1].error if failed else None) or f"the run ended {run.status}"
    next_steps = []
    if run.status == "rolled_back":
        next_steps.append("The changes were rolled back; check the device state before retrying.")
    if failed:
        next_steps.append(f"Investigate {failed[-1].tool} on the device: it failed at step {failed[-1].step_id}.")
    if any("approval" in (s.error or "") for s in steps) or "approval" in (run.error or ""):
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

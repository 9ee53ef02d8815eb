"""``mspclaw stats``: how well automation resolves tickets, per playbook and per client."""

from __future__ import annotations

import typer

from mspclaw.database.base import utcnow
from mspclaw.loop import stats

COLUMNS = [
    "name",
    "runs",
    "succeeded",
    "failed",
    "success_rate",
    "auto",
    "manual",
    "approved",
    "feedback_yes",
    "feedback_partial",
    "feedback_no",
    "median_minutes_to_resolution",
]


def stats_command(
    since: str = typer.Option(None, "--since", help="Only runs since then: 30d, 12h, 90m, or an ISO date."),
    tenant: str = typer.Option(None, "--tenant", "-t", envvar="MSPCLAW_TENANT", help="Tenant slug or id."),
    as_json: bool = typer.Option(False, "--json", help="Print the whole report as JSON."),
) -> None:
    """Success rates of automatic resolution per playbook and per client (runs, approvals, user feedback)."""
    from mspclaw.cli import console, open_database, print_rows, run, tenant_scope

    async def main() -> None:
        after = stats.parse_since(since, now=utcnow())
        async with open_database() as db, tenant_scope(db, tenant) as (session, _tenant):
            report = await stats.compute(session, since=after)
        if as_json:
            console.print_json(report.model_dump_json())
            return
        window = f"since {after:%Y-%m-%d %H:%M} UTC" if after else "all time"
        for title, rows in (("Playbooks", report.playbooks), ("Clients", report.clients)):
            print_rows([r.model_dump() for r in [*rows, report.total]], COLUMNS, False, f"{title} ({window})")

    run(main)

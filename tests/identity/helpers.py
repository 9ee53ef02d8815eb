"""Small helpers shared by the identity tests: run one identity tool, attest a caller."""

from __future__ import annotations

import uuid
from typing import Any

from mspclaw_agent.tools import ToolOutcome

from mspclaw.audit.service import Actor
from mspclaw.database.core import Database
from mspclaw.database.session import tenant_session
from mspclaw.identity import verification
from mspclaw.identity.backend import IdentityBackend
from mspclaw.tools import get_tool
from mspclaw.tools.backends import ToolContext

TECH = Actor("technician", str(uuid.uuid4()), "tech@msp.example")


async def run_tool(
    backend: IdentityBackend, tenant_id: uuid.UUID, client_id: uuid.UUID, tool: str, run_id: uuid.UUID, **args: Any
) -> ToolOutcome:
    context = ToolContext(tenant_id=tenant_id, client_id=client_id, run_id=run_id, step_id="s1", actor="test")
    return await backend.execute(get_tool(tool), args, context)


async def attest(db: Database, tenant_id: uuid.UUID, client_id: uuid.UUID, user: str, run_id: uuid.UUID) -> None:
    async with tenant_session(db.sessions, tenant_id) as session, session.begin():
        await verification.attest(
            session,
            client_id=client_id,
            user=user,
            run_id=run_id,
            technician=TECH,
            reason="known voice, called back on the desk phone on record",
        )

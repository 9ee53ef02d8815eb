"""A persistent per-device result journal in front of an endpoint backend, keyed by idempotency key.

The same contract as the real agent's outbox: a re-sent key returns the stored outcome instead of
running the tool again, and a key whose earlier attempt started but never finished is not re-run
for a change/destructive tool (its effect may have happened), so no change executes twice.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import re
from pathlib import Path
from typing import Any

from mspclaw_agent.tools import ToolOutcome

from mspclaw.tools import BackendKind, ToolBackend, ToolContext, ToolSpec

UNKNOWN_OUTCOME = (
    "an earlier attempt of this step started but its outcome was never recorded; "
    "a change is not run twice, check the device and re-run the playbook if needed"
)


class JournaledBackend:
    """Wraps a backend (normally LocalEndpointBackend) with an append-only journal per device."""

    def __init__(self, inner: ToolBackend, directory: Path) -> None:
        self.inner = inner
        self.kind: BackendKind = inner.kind
        self.directory = directory

    def _file(self, context: ToolContext) -> Path:
        device = re.sub(r"[^A-Za-z0-9_.-]", "_", context.device_id or "local")
        return self.directory / f"{device}.jsonl"

    def _read(self, path: Path, key: str) -> dict[str, Any] | None:
        if not path.exists():
            return None
        found: dict[str, Any] | None = None
        with path.open("r", encoding="utf-8") as fh:
            for line in fh:
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a torn last line from a crash mid-write
                if entry.get("key") == key:
                    found = entry
        return found

    def _append(self, path: Path, entry: dict[str, Any]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            fh.write(json.dumps(entry, default=str) + "\n")
            fh.flush()

            os.fsync(fh.fileno())  # durable before the caller may crash

    async def execute(self, tool: ToolSpec, args: dict[str, Any], context: ToolContext) -> ToolOutcome:
        """Replay a journalled outcome for this key, or run the tool once and journal it."""
        key = context.idempotency_key
        if key is None:
            return await self.inner.execute(tool, args, context)
        path = self._file(context)
        entry = await asyncio.to_thread(self._read, path, key)
        if entry is not None and entry.get("state") == "done":
            return ToolOutcome.model_validate(entry["outcome"])
        if entry is not None and tool.risk != "read":
            return ToolOutcome(tool=tool.name, ok=False, output={}, error=UNKNOWN_OUTCOME, duration_ms=0)
        await asyncio.to_thread(self._append, path, {"key": key, "state": "started", "tool": tool.name})
        outcome = await self.inner.execute(tool, args, context)
        stored = outcome.model_copy(update={"output": tool.redact(outcome.output)})
        await asyncio.to_thread(
            self._append, path, {"key": key, "state": "done", "outcome": stored.model_dump(mode="json")}
        )
        return outcome

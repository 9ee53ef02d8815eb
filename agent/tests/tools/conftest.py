"""Fixtures for endpoint tool tests: a Host that records argv and replays canned output.

It stands in for a macOS or Windows machine, which the CI box is not; the tool code
under test (argv building, parsing) is the real code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytest
from mspclaw_agent.tools import CommandResult, Host
from mspclaw_agent.tools.base import Platform


class RecordingHost(Host):
    """Pretends to be ``platform`` with every program installed; records each argv."""

    def __init__(self, platform: Platform, outputs: Mapping[str, str] | None = None) -> None:
        super().__init__(platform)
        self.calls: list[list[str]] = []
        self.outputs = dict(outputs or {})

    def which(self, program: str) -> str | None:
        return f"/fake/{program}"

    def systemd_running(self) -> bool:
        return True

    async def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float = 60.0,  # noqa: ASYNC109 - mirrors Host.run
        env: Mapping[str, str] | None = None,
    ) -> CommandResult:
        self.calls.append(list(argv))
        key = next((k for k in self.outputs if k in " ".join(argv)), None)
        return CommandResult(tuple(argv), 0, self.outputs.get(key, "") if key else "", "")


@pytest.fixture
def recording_host() -> type[RecordingHost]:
    return RecordingHost

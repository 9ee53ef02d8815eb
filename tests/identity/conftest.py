"""Real directory servers for identity tests: a Samba AD DC, moto_server, Graph/Google simulators.

Samba is provisioned into a temporary folder once per session (skipped, with the reason, only
when ``samba-tool`` is not installed); moto runs as its own process; the simulators are served
by uvicorn on 127.0.0.1. Each test creates its own users, so no test depends on another.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from ldap3 import Connection, Server, Tls

from mspclaw.config import Settings
from mspclaw.database.core import Database
from mspclaw.database.session import tenant_session
from mspclaw.identity.backend import IdentityBackend
from mspclaw.identity.notify import RecordingNotifier
from mspclaw.identity.resolver import IdentityEndpoints, secret_name
from mspclaw.identity.simulators import SimulatorState, google_simulator, graph_simulator
from mspclaw.tenancy.models import Client, Contact
from mspclaw.vault import service as vault
from mspclaw.vault.keys import Keyring, KeyringProvider

REALM = "CORP.EXAMPLE.TEST"
DOMAIN = "corp.example.test"
ADMIN_PASSWORD = "Adm1n-Passw0rd!"
USER_PASSWORD = "Us3r-Start-Pw!"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, proc: subprocess.Popen[bytes] | None = None, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before listening on {port}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port} after {timeout} s")


SAMBA_PORTS = (88, 389, 636)


def _wait_ports_free(ports: tuple[int, ...], timeout: float = 20.0) -> None:
    """Wait for a previous DC (e.g. the last session's, still exiting) to release its ports."""
    deadline = time.monotonic() + timeout
    while True:
        busy = []
        for port in ports:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    busy.append(port)
        if not busy:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"ports {busy} on 127.0.0.1 stay in use; stop the other Kerberos/LDAP server first")
        time.sleep(0.2)


@dataclass
class SambaDC:
    """A running domain controller: LDAPS URL, admin credentials, and user helpers."""

    url: str
    folder: Path

    def admin(self) -> Connection:
        return self.bind(f"Administrator@{REALM}", ADMIN_PASSWORD, raise_exceptions=True)

    def bind(self, user: str, password: str, *, raise_exceptions: bool = False) -> Connection:
        server = Server("127.0.0.1", port=636, use_ssl=True, tls=Tls(validate=ssl.CERT_NONE), connect_timeout=5)
        conn = Connection(server, user=user, password=password, raise_exceptions=raise_exceptions)
        conn.bind()
        return conn

    def can_bind(self, user: str, password: str) -> bool:
        conn = self.bind(f"{user}@{REALM}", password)
        ok = bool(conn.bound)
        conn.unbind()
        return ok

    def create_user(self, prefix: str = "u") -> str:
        """A fresh enabled user with USER_PASSWORD; returns its sAMAccountName."""
        name = f"{prefix}{uuid.uuid4().hex[:8]}"
        dn = f"CN={name},CN=Users,DC=corp,DC=example,DC=test"
        conn = self.admin()
        conn.add(
            dn,
            ["top", "person", "organizationalPerson", "user"],
            {
                "sAMAccountName": name,
                "userPrincipalName": f"{name}@{DOMAIN}",
                "unicodePwd": f'"{USER_PASSWORD}"'.encode("utf-16-le"),
                "userAccountControl": 512,
            },
        )
        conn.unbind()
        return name

    def create_group(self, name: str) -> str:
        conn = self.admin()
        conn.add(f"CN={name},CN=Users,DC=corp,DC=example,DC=test", ["top", "group"], {"sAMAccountName": name})
        conn.unbind()
        return name


def _samba_tool(*args: str) -> None:
    subprocess.run(["samba-tool", *args], check=True, capture_output=True, timeout=120)


@pytest.fixture(scope="session")
def samba_dc() -> Iterator[SambaDC]:
    """A Samba Active Directory DC provisioned into a temp folder, listening on 127.0.0.1:636."""
    if shutil.which("samba-tool") is None or shutil.which("samba") is None:
        pytest.skip("samba-tool is not installed (apt-get install -y samba) - the AD tests need a real DC")
    _wait_ports_free(SAMBA_PORTS)
    folder = Path(tempfile.mkdtemp(prefix="mspclaw-samba-"))
    _samba_tool(
        "domain",
        "provision",
        f"--realm={REALM}",
        "--domain=CORP",
        f"--adminpass={ADMIN_PASSWORD}",
        "--server-role=dc",
        "--dns-backend=NONE",
        "--use-rfc2307",
        f"--targetdir={folder}",
        "--option=interfaces=lo",
        "--option=bind interfaces only=yes",
    )
    conf = folder / "etc" / "smb.conf"
    lines = []
    for line in conf.read_text().splitlines():
        key = line.strip().split("=", 1)[0].strip()
        if key == "server services":
            # LDAP(S) and Kerberos only: the RPC endpoint mapper binds dynamic ports (49152+) inside the
            # kernel's ephemeral range, where a client socket elsewhere on the machine can already sit.
            line = "\tserver services = ldap, cldap, kdc"
        elif key == "log file":
            line = f"\tlog file = {folder}/log.%m"
        lines.append(line)
    conf.write_text("\n".join(lines) + "\n")
    db_args = ("-H", str(folder / "private" / "sam.ldb"), "-s", str(conf))
    _samba_tool("domain", "passwordsettings", "set", "--account-lockout-threshold=3", *db_args)
    log = open(folder / "samba.out", "wb")
    proc = subprocess.Popen(
        ["samba", "-i", "-s", str(conf)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        try:
            _wait_port(636, proc, timeout=60)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}: {(folder / 'samba.out').read_text()[-2000:]}") from None
        dc = SambaDC(url="ldaps://127.0.0.1:636", folder=folder)
        for _ in range(50):  # LDAPS listens a moment before binds succeed
            try:
                dc.admin().unbind()
                break
            except Exception:
                time.sleep(0.2)
        yield dc
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
        _wait_ports_free(SAMBA_PORTS)  # forked workers exit a moment after the master
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    """moto_server (the AWS API simulator) as a real process on a free port."""
    port = _free_port()
    exe = Path(sys.executable).with_name("moto_server")
    proc = subprocess.Popen(
        [str(exe), "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        _wait_port(port, proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


class _Served:
    def __init__(self, app: Any) -> None:
        self.port = _free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        _wait_port(self.port)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


GRAPH_TENANT = "6f1c0b8e-0000-4000-8000-00000000c0de"


@pytest.fixture(scope="session")
def graph_sim() -> Iterator[tuple[str, SimulatorState]]:
    app, state = graph_simulator(GRAPH_TENANT, "graph-app-id", "graph-app-secret")
    with _Served(app) as url:
        yield url, state


@pytest.fixture(scope="session")
def google_sim() -> Iterator[tuple[str, SimulatorState]]:
    app, state = google_simulator("google-client-id", "google-client-secret", "google-refresh-token")
    with _Served(app) as url:
        yield url, state


@pytest.fixture
def keyring(settings: Settings) -> Keyring:
    return KeyringProvider(settings.master_key, settings.data_dir).current()


@pytest.fixture
def notifier() -> RecordingNotifier:
    return RecordingNotifier()


@pytest.fixture
def endpoints(
    graph_sim: tuple[str, SimulatorState], google_sim: tuple[str, SimulatorState], moto_url: str
) -> IdentityEndpoints:
    return IdentityEndpoints(
        graph_url=f"{graph_sim[0]}/v1.0",
        login_url=graph_sim[0],
        google_directory_url=f"{google_sim[0]}/admin/directory/v1",
        google_token_url=f"{google_sim[0]}/token",
        aws_endpoint_url=moto_url,
        ad_verify_tls=False,  # the test DC's certificate is self-signed
    )


@pytest.fixture
def backend(
    db: Database, keyring: Keyring, notifier: RecordingNotifier, endpoints: IdentityEndpoints
) -> IdentityBackend:
    return IdentityBackend(db.sessions, lambda: keyring, notifier, endpoints=endpoints)


async def make_client(
    db: Database,
    keyring: Keyring,
    tenant_id: uuid.UUID,
    *,
    stack: dict[str, Any],
    secrets: dict[str, str],
    policy: dict[str, Any] | None = None,
    contact_email: str | None = None,
    contact_phone: str | None = None,
) -> tuple[uuid.UUID, uuid.UUID]:
    """A client with an identity stack, its vault secrets and one contact on record."""
    async with tenant_session(db.sessions, tenant_id) as session, session.begin():
        client = Client(name=f"Client {uuid.uuid4().hex[:6]}", stack=stack, policy=policy or {})
        session.add(client)
        await session.flush()
        contact = Contact(client_id=client.id, name="Caller", email=contact_email, phone=contact_phone)
        session.add(contact)
        await session.flush()
        for key, value in secrets.items():
            await vault.put(session, keyring, name=secret_name(client.id, key), value=value)
        return client.id, contact.id

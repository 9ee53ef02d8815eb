"""Simulator toolkit: what every vendor simulator shares — deterministic seed data, a
strictly increasing clock, fault injection (429 bursts, 500s, timeouts, slow and malformed
responses, duplicate webhook deliveries), the ``/_sim`` admin API, and serving an ASGI app
with uvicorn on 127.0.0.1 in a background thread.
"""

from __future__ import annotations

import asyncio
import ipaddress
import random
import re
import socket
import tempfile
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import httpx
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fastapi import Body, FastAPI, HTTPException, Request, Response
from pydantic import BaseModel, Field

FAULT_ALIASES = {
    "429": "rate_limit",
    "ratelimit": "rate_limit",
    "rate_limit": "rate_limit",
    "500": "server_error",
    "server_error": "server_error",
    "timeout": "timeout",
    "slow": "slow",
    "malformed": "malformed",
    "dup": "duplicate_webhooks",
    "duplicate": "duplicate_webhooks",
    "duplicate_webhooks": "duplicate_webhooks",
}


class FaultPlan(BaseModel):
    """Faults still to inject; each count is consumed by the next matching requests."""

    rate_limit: int = Field(0, description="Next N API requests are throttled the vendor's way.")
    server_error: int = Field(0, description="Next N API requests answer HTTP 500.")
    timeout: int = Field(0, description="Next N API requests hang for timeout_seconds.")
    timeout_seconds: float = 5.0
    slow: int = Field(0, description="Next N API requests are delayed by slow_ms.")
    slow_ms: int = 300
    malformed: int = Field(0, description="Next N list pages come back truncated/invalid.")
    duplicate_webhooks: int = Field(0, description="Next N webhook deliveries are sent twice.")
    rate_limit_per_minute: int | None = Field(
        None, description="Enforce the vendor's real budget (requests per rolling minute)."
    )

    @classmethod
    def parse(cls, text: str | None) -> FaultPlan:
        """Parse ``"429x5,500x2,timeoutx1,slowx3,malformedx1,dupx2,limit=800"``."""
        plan = cls()
        if not text:
            return plan
        for part in (p.strip() for p in text.split(",") if p.strip()):
            if part.startswith("limit="):
                plan.rate_limit_per_minute = int(part.split("=", 1)[1])
                continue
            match = re.fullmatch(r"([a-z_]+|\d+)(?:x(\d+))?", part)
            if not match or match.group(1) not in FAULT_ALIASES:
                raise ValueError(
                    f"unknown fault {part!r}; use e.g. 429x5, 500x2, timeoutx1, slowx3, malformedx1, dupx2, limit=800"
                )
            field = FAULT_ALIASES[match.group(1)]
            setattr(plan, field, getattr(plan, field) + int(match.group(2) or 1))
        return plan


class FaultInjector:
    """Thread-safe consumption of a :class:`FaultPlan` plus the rolling-minute limiter."""

    def __init__(self, plan: FaultPlan) -> None:
        self.plan = plan
        self._lock = threading.Lock()
        self._window: list[float] = []
        self.injected: dict[str, int] = {}

    def set(self, plan: FaultPlan) -> None:
        """Replace the plan (admin endpoint)."""
        with self._lock:
            self.plan = plan

    def take(self, name: str) -> bool:
        """Consume one fault of kind ``name`` if any is pending."""
        with self._lock:
            left = getattr(self.plan, name)
            if left <= 0:
                return False
            setattr(self.plan, name, left - 1)
            self.injected[name] = self.injected.get(name, 0) + 1
            return True

    def over_limit(self) -> bool:
        """Whether this request exceeds the enforced per-minute budget."""
        limit = self.plan.rate_limit_per_minute
        if not limit:
            return False
        with self._lock:
            now = time.monotonic()
            self._window = [t for t in self._window if now - t < 60.0]
            if len(self._window) >= limit:
                self.injected["rate_limit"] = self.injected.get("rate_limit", 0) + 1
                return True
            self._window.append(now)
            return False


class SimClock:
    """UTC now, but strictly increasing (1 ms steps) so every update has a unique time."""

    def __init__(self) -> None:
        self._last = datetime.now(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """The next simulator timestamp."""
        with self._lock:
            current = datetime.now(UTC)
            if current <= self._last:
                current = self._last + timedelta(milliseconds=1)
            self._last = current
            return current


COMPANY_WORDS = (
    "Acme",
    "Northwind",
    "Contoso",
    "Fabrikam",
    "Globex",
    "Initech",
    "Umbrella",
    "Stark",
    "Wayne",
    "Tyrell",
    "Cyberdyne",
    "Hooli",
    "Vandelay",
    "Pied Piper",
    "Dunder",
    "Wonka",
)
COMPANY_KINDS = ("Dental", "Legal", "Logistics", "Accounting", "Realty", "Clinic", "Partners")
FIRST = (
    "Alice",
    "Bob",
    "Carla",
    "Dev",
    "Elena",
    "Farid",
    "Grace",
    "Hiro",
    "Ines",
    "Jonas",
    "Kemi",
    "Liam",
    "Maya",
    "Nils",
    "Olga",
    "Priya",
    "Quinn",
    "Rosa",
    "Sam",
    "Tariq",
)
LAST = (
    "Smith",
    "Okafor",
    "Nguyen",
    "Garcia",
    "Muller",
    "Rossi",
    "Khan",
    "Berg",
    "Silva",
    "Kowalski",
    "Tanaka",
    "Dubois",
    "Novak",
    "Hughes",
)
SUBJECTS = (
    "Password reset for {name}",
    "{name} locked out of Microsoft 365",
    "MFA prompt not arriving on new phone",
    "Printer on 2nd floor offline",
    "VPN disconnects every 10 minutes",
    "Outlook keeps asking for password",
    "Disk space low on {host}",
    "{host} very slow since update",
    "Install Adobe Acrobat",
    "New starter onboarding: {name}",
    "Offboard leaver {name}",
    "Wi-Fi drops in meeting room",
    "Shared mailbox access request",
    "Backup job failed on {host}",
    "Suspicious login alert for {name}",
    "Teams camera not detected",
)
OSES = ("Windows 11 Pro", "Windows 10 Pro", "Windows Server 2022", "macOS 14", "Ubuntu 22.04")


class SeedCompany(BaseModel):
    """A seeded client company."""

    index: int
    name: str
    domain: str


class SeedContact(BaseModel):
    """A seeded client contact."""

    index: int
    company: int
    first: str
    last: str
    email: str
    phone: str


class SeedDevice(BaseModel):
    """A seeded endpoint."""

    index: int
    company: int
    name: str
    os: str
    online: bool
    last_seen: datetime


class SeedTicket(BaseModel):
    """A seeded ticket; status/priority are indexes into the vendor's own lists."""

    index: int
    company: int
    contact: int
    subject: str
    description: str
    status: int
    priority: int
    created: datetime
    updated: datetime


class SeedData(BaseModel):
    """Vendor-neutral seed a simulator translates into its own shapes."""

    companies: list[SeedCompany]
    contacts: list[SeedContact]
    devices: list[SeedDevice]
    tickets: list[SeedTicket]


def make_seed(seed: str, *, tickets: int, companies: int = 8, statuses: int = 4, priorities: int = 4) -> SeedData:
    """Deterministic realistic data: same seed, same companies, people, devices, tickets."""
    rng = random.Random(seed)
    base = datetime(2026, 1, 1, tzinfo=UTC)
    comps: list[SeedCompany] = []
    for i in range(companies):
        name = f"{COMPANY_WORDS[i % len(COMPANY_WORDS)]} {rng.choice(COMPANY_KINDS)}"
        slug = re.sub(r"[^a-z]", "", name.lower())
        comps.append(SeedCompany(index=i, name=name, domain=f"{slug}.example"))
    contacts: list[SeedContact] = []
    devices: list[SeedDevice] = []
    for comp in comps:
        for _ in range(rng.randint(3, 6)):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            contacts.append(
                SeedContact(
                    index=len(contacts),
                    company=comp.index,
                    first=first,
                    last=last,
                    email=f"{first.lower()}.{last.lower()}@{comp.domain}",
                    phone=f"+1-555-{rng.randint(1000, 9999)}",
                )
            )
        for _ in range(rng.randint(2, 5)):
            devices.append(
                SeedDevice(
                    index=len(devices),
                    company=comp.index,
                    name=f"{comp.domain.split('.')[0][:6].upper()}-{len(devices):03d}",
                    os=rng.choice(OSES),
                    online=rng.random() > 0.2,
                    last_seen=base + timedelta(minutes=rng.randint(0, 40_000)),
                )
            )
    seeded: list[SeedTicket] = []
    for i in range(tickets):
        contact = rng.choice(contacts)
        device = rng.choice([d for d in devices if d.company == contact.company] or devices)
        created = base + timedelta(minutes=i * 3 + rng.randint(0, 2))
        subject = rng.choice(SUBJECTS).format(name=f"{contact.first} {contact.last}", host=device.name)
        seeded.append(
            SeedTicket(
                index=i,
                company=contact.company,
                contact=contact.index,
                subject=subject,
                description=f"Reported by {contact.first} {contact.last}: {subject.lower()}.",
                status=rng.randrange(statuses),
                priority=rng.randrange(priorities),
                created=created,
                updated=created + timedelta(minutes=rng.randint(0, 90)),
            )
        )
    return SeedData(companies=comps, contacts=contacts, devices=devices, tickets=seeded)


class TicketChange(BaseModel):
    """An admin-side ticket edit (values in the vendor's own vocabulary)."""

    subject: str | None = None
    status: str | None = None
    priority: str | None = None
    company: str | None = Field(None, description="Vendor company id (create only).")


class WebhookSampleRequest(BaseModel):
    """Ask the simulator for the delivery it would send for a ticket change."""

    ticket_id: str
    action: str = "updated"


class Simulator(ABC):
    """Base class for vendor simulators: state, faults, admin API and outbound webhooks.

    Subclasses add the vendor routes (:meth:`add_vendor_routes`) and say how the vendor
    throttles and fails (:meth:`throttle_response`, :meth:`server_error_response`).
    """

    name: ClassVar[str]
    fault_exempt: ClassVar[tuple[str, ...]] = ()
    vendor_rate_limit: ClassVar[int | None] = None

    def __init__(
        self,
        seed: str = "demo",
        *,
        tickets: int = 60,
        faults: FaultPlan | str | None = None,
    ) -> None:
        plan = faults if isinstance(faults, FaultPlan) else FaultPlan.parse(faults)
        self.faults = FaultInjector(self._with_vendor_limit(plan))
        self.clock = SimClock()
        self.lock = threading.RLock()
        self.ticket_count = tickets
        self.requests = 0
        self.deliveries: list[dict[str, Any]] = []
        self.public_url = "http://127.0.0.1"  # updated from each request's base URL
        self._tasks: set[asyncio.Task[None]] = set()
        self.reset(seed)

    # --- to implement per vendor ------------------------------------------------------

    @abstractmethod
    def reset(self, seed: str) -> None:
        """(Re)build all state from the seed."""

    @abstractmethod
    def add_vendor_routes(self, app: FastAPI) -> None:
        """Register the vendor API routes."""

    @abstractmethod
    def throttle_response(self) -> Response:
        """How the vendor says "too many requests"."""

    @abstractmethod
    def server_error_response(self) -> Response:
        """How the vendor says "internal error"."""

    @abstractmethod
    def admin_create_ticket(self, change: TicketChange) -> dict[str, Any]:
        """Create a ticket as if a person did it in the vendor UI; returns the vendor record."""

    @abstractmethod
    def admin_update_ticket(self, ticket_id: str, change: TicketChange) -> dict[str, Any]:
        """Edit a ticket as if in the vendor UI (bumps its updated time)."""

    @abstractmethod
    def admin_ticket(self, ticket_id: str) -> dict[str, Any]:
        """The vendor record of one ticket."""

    @abstractmethod
    def admin_notes(self, ticket_id: str) -> list[dict[str, Any]]:
        """The vendor records of a ticket's notes."""

    @abstractmethod
    def summary(self) -> dict[str, Any]:
        """Counts and the credentials a client needs (for the CLI banner and the kit)."""

    def webhook_sample(self, ticket_id: str, action: str) -> tuple[dict[str, str], bytes]:
        """The headers and body of a genuine delivery (vendors with webhooks override)."""
        raise HTTPException(404, f"{self.name} has no webhooks")

    def admin_alert(self, alert_id: str) -> dict[str, Any]:
        """The vendor record of an alert, from the simulator's ``alerts`` table if it has one."""
        alerts: dict[str, dict[str, Any]] = getattr(self, "alerts", {})
        if alert_id not in alerts:
            raise HTTPException(404, f"{self.name} has no alert {alert_id}")
        return alerts[alert_id]

    # --- shared machinery -------------------------------------------------------------

    def _with_vendor_limit(self, plan: FaultPlan) -> FaultPlan:
        """Unless told otherwise (``limit=0`` disables), enforce the vendor's real budget."""
        if plan.rate_limit_per_minute is None:
            plan.rate_limit_per_minute = self.vendor_rate_limit
        return plan

    def is_api_path(self, path: str) -> bool:
        """Faults and request counting apply to vendor API paths only."""
        return not path.startswith("/_sim") and not path.startswith(self.fault_exempt)

    def app(self) -> FastAPI:
        """The ASGI app: fault middleware, vendor routes, ``/_sim`` admin API."""
        app = FastAPI(
            title=f"{self.name} simulator (MSPclaw)",
            docs_url="/_sim/docs",
            openapi_url="/_sim/openapi.json",
            redoc_url=None,
        )

        @app.middleware("http")
        async def inject_faults(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
            self.public_url = str(request.base_url).rstrip("/")
            if not self.is_api_path(request.url.path):
                return await call_next(request)
            self.requests += 1
            faults = self.faults
            if faults.take("timeout"):
                # The client has given up by now; answer without consuming other faults.
                await asyncio.sleep(faults.plan.timeout_seconds)
                return await call_next(request)
            if faults.take("slow"):
                await asyncio.sleep(faults.plan.slow_ms / 1000)
            if faults.over_limit() or faults.take("rate_limit"):
                return self.throttle_response()
            if faults.take("server_error"):
                return self.server_error_response()
            return await call_next(request)

        self.add_vendor_routes(app)
        self._add_admin_routes(app)
        return app

    def _add_admin_routes(self, app: FastAPI) -> None:
        @app.get("/_sim/state")
        async def state() -> dict[str, Any]:
            return {
                **self.summary(),
                "requests": self.requests,
                "faults_pending": self.faults.plan.model_dump(),
                "faults_injected": dict(self.faults.injected),
                "webhook_deliveries": len(self.deliveries),
            }

        @app.post("/_sim/faults")
        async def set_faults(plan: FaultPlan) -> FaultPlan:
            self.faults.set(self._with_vendor_limit(plan))
            return plan

        @app.post("/_sim/reset")
        async def reset(seed: str = Body("demo", embed=True)) -> dict[str, Any]:
            with self.lock:
                self.reset(seed)
            self.faults.set(self._with_vendor_limit(FaultPlan()))
            return self.summary()

        @app.post("/_sim/tickets", status_code=201)
        async def create_ticket(change: TicketChange) -> dict[str, Any]:
            with self.lock:
                return self.admin_create_ticket(change)

        @app.patch("/_sim/tickets/{ticket_id}")
        async def update_ticket(ticket_id: str, change: TicketChange) -> dict[str, Any]:
            with self.lock:
                return self.admin_update_ticket(ticket_id, change)

        @app.get("/_sim/tickets/{ticket_id}")
        async def get_ticket(ticket_id: str) -> dict[str, Any]:
            return self.admin_ticket(ticket_id)

        @app.get("/_sim/tickets/{ticket_id}/notes")
        async def get_notes(ticket_id: str) -> list[dict[str, Any]]:
            return self.admin_notes(ticket_id)

        @app.get("/_sim/alerts/{alert_id}")
        async def get_alert(alert_id: str) -> dict[str, Any]:
            return self.admin_alert(alert_id)

        @app.post("/_sim/webhooks/sample")
        async def sample(req: WebhookSampleRequest) -> dict[str, Any]:
            headers, body = self.webhook_sample(req.ticket_id, req.action)
            return {"headers": headers, "body": body.decode()}

    def deliver(self, url: str, headers: dict[str, str], body: bytes) -> None:
        """Send a webhook in the background (twice when a duplicate fault is pending)."""
        copies = 2 if self.faults.take("duplicate_webhooks") else 1

        async def send() -> None:
            async with httpx.AsyncClient(timeout=5.0) as client:
                for _ in range(copies):
                    record: dict[str, Any] = {"url": url, "at": self.clock.now().isoformat()}
                    try:
                        response = await client.post(url, content=body, headers=headers)
                        record["status"] = response.status_code
                    except httpx.HTTPError as exc:
                        # A receiver that is down is normal for a sandbox; keep the record.
                        record["error"] = type(exc).__name__
                    self.deliveries.append(record)

        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        task = loop.create_task(send())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def free_port(host: str = "127.0.0.1") -> int:
    """An unused TCP port on ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def self_signed_certificate(directory: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """A throwaway certificate for ``host`` (and localhost); it is its own CA, so clients
    that insist on HTTPS can trust it via their CA-bundle setting."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "MSPclaw simulator")])
    alt: list[x509.GeneralName] = [x509.DNSName("localhost")]
    try:
        alt.append(x509.IPAddress(ipaddress.ip_address(host)))
    except ValueError:
        alt.append(x509.DNSName(host))
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "simulator.crt", directory / "simulator.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class ServedApp:
    """Run an ASGI app under uvicorn in a daemon thread (tests, the kit, the demo).

    With ``tls=True`` it serves HTTPS with a fresh self-signed certificate; ``ca_file`` is
    the file to trust (e.g. ``REQUESTS_CA_BUNDLE`` or ``SSL_CERT_FILE``).
    """

    def __init__(
        self,
        app: Any,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        tls: bool = False,
    ) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.ca_file: Path | None = None
        ssl: dict[str, Any] = {}
        if tls:
            self._tmp = tempfile.TemporaryDirectory(prefix="mspclaw-sim-")
            cert, key = self_signed_certificate(Path(self._tmp.name), host)
            self.ca_file = cert
            ssl = {"ssl_certfile": str(cert), "ssl_keyfile": str(key)}
        config = uvicorn.Config(
            app,
            host=host,
            port=self.port,
            log_level="warning",
            lifespan="off",
            access_log=False,
            **ssl,
        )
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        """Base URL of the served app."""
        scheme = "https" if self.ca_file else "http"
        return f"{scheme}://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> ServedApp:
        """Start serving and wait until the socket accepts connections."""
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"simulator did not start on {self.url}")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Stop serving and join the thread."""
        self.server.should_exit = True
        self._thread.join(timeout=10)

    def __enter__(self) -> ServedApp:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class WebhookReceiver(ServedApp):
    """A local endpoint that records every POST (to try a simulator's outbound webhooks)."""

    def __init__(self, *, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.received: list[tuple[str, dict[str, str], bytes]] = []
        app = FastAPI()

        @app.post("/{path:path}")
        async def record(path: str, request: Request) -> dict[str, bool]:
            self.received.append((path, dict(request.headers), await request.body()))
            return {"ok": True}

        super().__init__(app, host=host, port=port)

    async def wait_for(self, count: int, within_seconds: float = 5.0) -> None:
        """Wait until ``count`` deliveries arrived (or the time is up)."""
        deadline = time.monotonic() + within_seconds
        # Deliveries land on the server thread's loop, so an asyncio.Event cannot be shared.
        while len(self.received) < count and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.02)

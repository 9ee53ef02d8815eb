"""ConnectWise PSA adapter: service tickets (conditions, forward-only paging), notes,
companies, contacts, configurations, and signed callbacks, over the REST API 3.0.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

from mspclaw.connectors.base import Connector, ReplayGuard
from mspclaw.connectors.errors import (
    NotFound,
    VendorError,
    WebhookRejected,
    WrongUrl,
)
from mspclaw.connectors.http import ResilientClient
from mspclaw.connectors.models import (
    Client,
    Contact,
    Device,
    Note,
    Page,
    Ticket,
    TicketCreate,
    TicketUpdate,
    WebhookEvent,
    parse_vendor_time,
)

# Hosts allowed to serve callback signing keys (Nango's allow-list) besides the configured
# site: an attacker-chosen key_url would otherwise let them sign forged callbacks.
CW_CLOUD_HOSTS = frozenset(
    f"{prefix}{region}.myconnectwise.net" for prefix in ("api-", "sandbox-", "") for region in ("na", "eu", "au")
)
LINK_NEXT = re.compile(r'<([^>]+)>;\s*rel="next"')


def cw_time(dt: datetime) -> str:
    """A conditions datetime literal: UTC, whole seconds (CW's resolution)."""
    return dt.astimezone(UTC).strftime("[%Y-%m-%dT%H:%M:%SZ]")


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _name(ref: Any) -> str | None:
    return str(ref["name"]) if isinstance(ref, dict) and ref.get("name") is not None else None


def _id(ref: Any) -> str | None:
    return str(ref["id"]) if isinstance(ref, dict) and ref.get("id") is not None else None


class ConnectWiseConnector(Connector):
    """ConnectWise PSA (Manage) REST API as an MSPclaw connector."""

    spec_file: ClassVar[Path] = Path(__file__).with_name("spec.yaml")
    simulator: ClassVar[str | None] = "mspclaw.connectors.connectwise.simulator:ConnectWiseSimulator"
    page_size: ClassVar[int] = 250  # CW allows up to 1000; smaller pages retry cheaper
    webhook_max_age: ClassVar[timedelta] = timedelta(hours=1)

    def build_http(self) -> ResilientClient:
        """Basic ``company+public:private`` plus the mandatory ``clientId`` header."""
        cfg = self.config
        codebase = (cfg.get("codebase") or "v4_6_release/").strip("/")
        self._api = f"/{codebase}/apis/3.0"
        user = f"{cfg['company_id']}+{cfg['public_key']}:{cfg['private_key']}"
        self._signing_keys: dict[str, str] = {}
        return self.client(
            cfg["site_url"].rstrip("/"),
            headers={
                "Authorization": "Basic " + base64.b64encode(user.encode()).decode(),
                "clientId": cfg["client_id"],
                "Accept": "application/json",
            },
        )

    def secret_values(self) -> list[str]:
        """The private key, and the Basic credential built from it."""
        cfg = self.config
        user = f"{cfg['company_id']}+{cfg['public_key']}:{cfg['private_key']}"
        return [*super().secret_values(), base64.b64encode(user.encode()).decode()]

    async def _get(self, path: str, **kw: Any) -> Any:
        return await self.http.request_json("GET", f"{self._api}{path}", **kw)

    async def probe(self) -> None:
        """Read one ticket id: proves URL, keys, clientId and the Service Tickets role."""
        try:
            response = await self.http.request(
                "GET", f"{self._api}/service/tickets", params={"pageSize": 1, "fields": "id"}
            )
        except NotFound as exc:
            raise WrongUrl(
                f"no ConnectWise API at {self.config['site_url']} (HTTP 404; check the site URL and codebase)"
            ) from exc
        if "json" not in response.headers.get("content-type", ""):
            raise WrongUrl(f"{self.config['site_url']} did not answer like the ConnectWise API")

    async def _pages(self, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Every row of a list, forward-only paging (stable while records change)."""
        rows: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            batch, cursor = await self._page(path, params, cursor)
            rows.extend(batch)
            if cursor is None:
                return rows

    async def _page(
        self, path: str, params: dict[str, Any], page_id: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        query = {**params, "pageSize": self.page_size}
        if page_id:
            query["pageId"] = page_id
        response = await self.http.request(
            "GET",
            f"{self._api}{path}",
            params=query,
            headers={"pagination-type": "forward-only"},
        )
        try:
            batch = response.json()
        except ValueError:
            # A truncated page: fetch it again through the JSON-aware path (retries).
            batch = await self.http.request_json(
                "GET",
                f"{self._api}{path}",
                params=query,
                headers={"pagination-type": "forward-only"},
            )
        if not isinstance(batch, list):
            raise VendorError(f"ConnectWise {path} did not return a list")
        match = LINK_NEXT.search(response.headers.get("Link", ""))
        if match:
            next_id = parse_qs(urlsplit(match.group(1)).query).get("pageId", [None])[0]
        else:
            # Defensive: without a Link header a full page may still have a successor.
            next_id = str(batch[-1]["id"]) if len(batch) >= self.page_size else None
        return batch, next_id

    # --- tickets ----------------------------------------------------------------------

    def _ticket(self, r: dict[str, Any], description: str | None = None) -> Ticket:
        info = r.get("_info") or {}
        updated = parse_vendor_time(info.get("lastUpdated")) or parse_vendor_time(info.get("dateEntered"))
        tid = str(r["id"])
        if updated is None:
            raise VendorError(f"ConnectWise ticket {tid} has no _info.lastUpdated")
        raw_status, raw_priority = _name(r.get("status")), _name(r.get("priority"))
        return Ticket(
            external_id=tid,
            number=tid,
            subject=r.get("summary") or "",
            description=description,
            status=self.mappings.to_normalised("status", raw_status, external_id=tid),
            raw_status=raw_status,
            priority=self.mappings.to_normalised("priority", raw_priority, external_id=tid),
            raw_priority=raw_priority,
            client_external_id=_id(r.get("company")),
            contact_external_id=_id(r.get("contact")),
            assignee=_name(r.get("owner")),
            queue=_name(r.get("board")),
            created_at=parse_vendor_time(info.get("dateEntered")),
            updated_at=updated,
            raw=r,
        )

    async def list_tickets(self, since: datetime | None, cursor: str | None) -> Page[Ticket]:
        """``lastUpdated > [since]`` (whole seconds, then re-checked exactly), boards
        filtered server-side, forward-only by id (a walk never skips a shifted ticket)."""
        conditions = []
        if since is not None:
            conditions.append(f"lastUpdated > {cw_time(since.replace(microsecond=0))}")
        if self.mappings.queues:
            boards = ",".join(_quote(q) for q in self.mappings.queues)
            conditions.append(f"board/name in ({boards})")
        params: dict[str, Any] = {"orderBy": "id asc"}
        if conditions:
            params["conditions"] = " and ".join(conditions)
        batch, next_id = await self._page("/service/tickets", params, cursor)
        tickets = [self._ticket(r) for r in batch]
        if since is not None:
            tickets = [t for t in tickets if t.updated_at > since]
        return Page(
            items=tickets,
            next_cursor=next_id,
            watermark=max((t.updated_at for t in tickets), default=None),
        )

    async def get_ticket(self, external_id: str) -> Ticket:
        """One ticket; its description is the first Discussion note (CW returns none)."""
        record = await self._get(f"/service/tickets/{int(external_id)}")
        notes = await self.list_notes(external_id)
        description = next((n.body for n in notes if n.raw.get("detailDescriptionFlag")), None)
        return self._ticket(record, description)

    async def create_ticket(self, ticket: TicketCreate) -> Ticket:
        """POST a ticket on the first configured board (or the instance default)."""
        body: dict[str, Any] = {
            "summary": ticket.subject[:100],
            "company": {"id": int(ticket.client_external_id)},
        }
        if self.mappings.queues:
            body["board"] = {"name": self.mappings.queues[0]}
        if ticket.contact_external_id:
            body["contact"] = {"id": int(ticket.contact_external_id)}
        if ticket.status:
            body["status"] = {"name": self.mappings.to_vendor("status", ticket.status)}
        if ticket.priority:
            body["priority"] = {"name": self.mappings.to_vendor("priority", ticket.priority)}
        if ticket.description:
            body["initialDescription"] = ticket.description
        record = await self.http.request_json("POST", f"{self._api}/service/tickets", json=body)
        return self._ticket(record, ticket.description)

    async def update_ticket(self, external_id: str, update: TicketUpdate) -> Ticket:
        """JSON-Patch ``replace`` ops; status/priority by name through the mapping."""
        ops: list[dict[str, Any]] = []
        if update.subject is not None:
            ops.append({"op": "replace", "path": "summary", "value": update.subject[:100]})
        if update.status is not None:
            ops.append(
                {
                    "op": "replace",
                    "path": "status",
                    "value": {"name": self.mappings.to_vendor("status", update.status)},
                }
            )
        if update.priority is not None:
            ops.append(
                {
                    "op": "replace",
                    "path": "priority",
                    "value": {"name": self.mappings.to_vendor("priority", update.priority)},
                }
            )
        record = await self.http.request_json(
            "PATCH",
            f"{self._api}/service/tickets/{int(external_id)}",
            json=ops,
            idempotent=True,  # replacing with the same values twice is harmless
        )
        return self._ticket(record)

    def _note(self, n: dict[str, Any]) -> Note:
        return Note(
            external_id=str(n["id"]),
            ticket_external_id=str(n.get("ticketId")),
            body=n.get("text") or "",
            internal=bool(n.get("internalAnalysisFlag")) and not n.get("detailDescriptionFlag"),
            author=_name(n.get("member")) or n.get("createdBy"),
            created_at=parse_vendor_time(n.get("dateCreated")),
            raw=n,
        )

    async def add_note(self, external_id: str, body: str, *, internal: bool) -> Note:
        """Discussion (customer-visible) or Internal Analysis, always set explicitly."""
        record = await self.http.request_json(
            "POST",
            f"{self._api}/service/tickets/{int(external_id)}/notes",
            json={
                "text": body,
                "detailDescriptionFlag": not internal,
                "internalAnalysisFlag": internal,
                "resolutionFlag": False,
            },
        )
        return self._note(record)

    async def list_notes(self, external_id: str) -> list[Note]:
        """Every note of a ticket, oldest first."""
        rows = await self._pages(f"/service/tickets/{int(external_id)}/notes", {"orderBy": "id asc"})
        return [self._note(n) for n in rows]

    # --- directory --------------------------------------------------------------------

    async def list_clients(self) -> list[Client]:
        """Companies (``deletedFlag=false``); the website gives the email domain."""
        rows = await self._pages("/company/companies", {"conditions": "deletedFlag=false", "orderBy": "id asc"})
        clients = []
        for c in rows:
            site = str(c.get("website") or "").lower()
            domain = re.sub(r"^(https?://)?(www\.)?", "", site).split("/")[0]
            clients.append(
                Client(
                    external_id=str(c["id"]),
                    name=c.get("name") or "",
                    domains=[domain] if domain else [],
                    raw=c,
                )
            )
        return clients

    async def list_contacts(self) -> list[Contact]:
        """Contacts with their default email and phone communication items."""
        contacts = []
        for p in await self._pages("/company/contacts", {"orderBy": "id asc"}):
            items = p.get("communicationItems") or []

            def pick(kind: str, items: list[dict[str, Any]] = items) -> str | None:
                return next((i.get("value") for i in items if i.get("communicationType") == kind), None)

            contacts.append(
                Contact(
                    external_id=str(p["id"]),
                    client_external_id=_id(p.get("company")),
                    name=f"{p.get('firstName') or ''} {p.get('lastName') or ''}".strip(),
                    email=pick("Email"),
                    phone=pick("Phone"),
                    raw=p,
                )
            )
        return contacts

    async def list_devices(self) -> list[Device]:
        """Configurations (inventory: online state unknown)."""
        return [
            Device(
                external_id=str(c["id"]),
                client_external_id=_id(c.get("company")),
                name=c.get("name") or "",
                hostname=c.get("name"),
                os=c.get("osType"),
                online=None,
                last_seen=parse_vendor_time((c.get("_info") or {}).get("lastUpdated")),
                raw=c,
            )
            for c in await self._pages("/company/configurations", {"orderBy": "id asc"})
        ]

    # --- webhooks (callbacks) ---------------------------------------------------------

    async def register_webhook(self, url: str, secret: str) -> dict[str, Any]:
        """An owner-level Ticket callback. CW cannot carry a custom secret header, so the
        secret must be part of ``url`` (MSPclaw's ``/hooks/{connection}/{secret}`` is)."""
        entry = await self.http.request_json(
            "POST",
            f"{self._api}/system/callbacks",
            json={
                "url": url,
                "objectId": 1,
                "type": "Ticket",
                "level": "Owner",
                "description": "MSPclaw ticket sync",
                "inactiveFlag": False,
            },
        )
        return dict(entry)

    def _key_url_allowed(self, key_url: str) -> bool:
        host = (urlsplit(key_url).hostname or "").lower()
        return host == (urlsplit(self.config["site_url"]).hostname or "").lower() or (host in CW_CLOUD_HOSTS)

    async def _signing_key(self, key_url: str) -> str:
        if key_url not in self._signing_keys:
            payload = await self.http.request_json("GET", key_url)
            key = payload.get("signing_key") if isinstance(payload, dict) else None
            if not key:
                raise WebhookRejected("the callback key URL returned no signing key", reason="forged")
            self._signing_keys[key_url] = str(key)
        return self._signing_keys[key_url]

    async def verify_webhook(
        self, headers: Mapping[str, str], body: bytes, *, now: datetime, replay: ReplayGuard
    ) -> list[WebhookEvent]:
        """Check signature (key from an allow-listed ``Metadata.key_url``), age and replay."""
        lower = {k.lower(): v for k, v in headers.items()}
        signature = lower.get("x-content-signature")
        if not signature:
            raise WebhookRejected("callback has no x-content-signature", reason="forged")
        try:
            payload = json.loads(body)
            key_url = str(payload["Metadata"]["key_url"])
        except (ValueError, KeyError, TypeError) as exc:
            raise WebhookRejected("callback body is not a CW payload", reason="malformed") from exc
        if not self._key_url_allowed(key_url):
            raise WebhookRejected(f"key_url host {urlsplit(key_url).hostname} is not allowed", reason="forged")
        try:
            signing_key = await self._signing_key(key_url)
        except (NotFound, VendorError) as exc:
            raise WebhookRejected("the signing key could not be fetched", reason="forged") from exc
        key = hashlib.sha256(signing_key.encode()).digest()
        expected = base64.b64encode(hmac.new(key, body, hashlib.sha256).digest()).decode()
        if not hmac.compare_digest(expected, signature.strip()):
            raise WebhookRejected("callback signature does not match", reason="forged")
        try:
            entity = json.loads(payload.get("Entity") or "{}")
        except ValueError:
            entity = {}
        # CW payloads carry no send time; the entity's lastUpdated is the best age signal
        # (unconfirmed how long CW retries a failed callback: 1 hour tolerance).
        occurred = parse_vendor_time((entity.get("_info") or {}).get("lastUpdated"))
        if occurred is not None and now - occurred > self.webhook_max_age:
            raise WebhookRejected("callback is older than the freshness window", reason="stale")
        message_id = str(payload.get("MessageId") or expected)
        if not await replay.first_time(f"connectwise:{message_id}", now):
            raise WebhookRejected("callback was already delivered", reason="replayed")
        kind = str(payload.get("Type") or "").lower()
        return [
            WebhookEvent(
                event_key=message_id,
                entity="ticket" if kind == "ticket" else "client" if kind == "company" else "other",
                action=str(payload.get("Action") or "updated").lower(),
                external_id=str(payload.get("ID")) if payload.get("ID") is not None else None,
                occurred_at=occurred,
                raw=payload,
            )
        ]

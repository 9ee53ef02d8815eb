"""ConnectWise PSA simulator: ``/v4_6_release/apis/3.0`` service tickets (conditions,
orderBy, navigable and forward-only paging with Link headers), notes, companies, contacts,
configurations, boards/statuses/priorities, callbacks signed like CW (``x-content-signature``),
codebase discovery, and 429 + ``Retry-After`` throttling.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import re
import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import urlencode

from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.responses import JSONResponse

from mspclaw.connectors.connectwise.conditions import (
    ConditionError,
    evaluate,
    field_value,
    parse,
)
from mspclaw.connectors.simulator import Simulator, TicketChange, make_seed

CODEBASE = "v4_6_release/"
API = f"/{CODEBASE}apis/3.0"
STATUSES = (
    "New",
    "Assigned",
    "In Progress",
    "Waiting Customer Response",
    "Customer Updated",
    "Scheduled",
    "Completed",
    "Closed",
)
PRIORITIES = (
    "Priority 4 - Schedule Maintenance",
    "Priority 3 - Normal Response",
    "Priority 2 - Quick Response",
    "Priority 1 - Emergency Response",
    "Do Not Respond",
)
BOARDS = ("Help Desk", "Projects")
MAX_PAGE_SIZE = 1000


def cw_time(dt: datetime) -> str:
    """CW wire time: UTC, second resolution, ``Z``."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def cw_error(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    """A CW error body ``{code, message, errors}``."""
    errors = [{"code": code, "message": message, **extra}] if extra else []
    return JSONResponse({"code": code, "message": message, "errors": errors}, status)


def _sort_key(field: str) -> Any:
    """Sort by a slash-path field: numbers numerically, everything else as text."""

    def key(row: dict[str, Any]) -> str:
        value = field_value(row, field)
        return str(value).zfill(30) if isinstance(value, int) else str(value or "")

    return key


def sign(body: bytes, signing_key: str) -> str:
    """``base64(HMAC-SHA256(key = SHA256(signing_key), body))`` as CW signs callbacks.

    The reference (Nango's verifier) hashes the signing key to raw digest bytes for the key.
    """
    key = hashlib.sha256(signing_key.encode()).digest()
    return base64.b64encode(hmac.new(key, body, hashlib.sha256).digest()).decode()


class ConnectWiseSimulator(Simulator):
    """An in-memory ConnectWise Manage instance behind the real REST shape."""

    name: ClassVar[str] = "connectwise"
    fault_exempt: ClassVar[tuple[str, ...]] = (
        "/login/",
        f"/{CODEBASE}system/",
        f"/{CODEBASE}/system/",
    )
    company_id = "demomsp"
    retry_after_seconds = 1

    def reset(self, seed: str) -> None:
        """Build boards, companies, contacts, configurations and tickets from the seed."""
        rng = random.Random(f"connectwise:{seed}")
        data = make_seed(seed, tickets=self.ticket_count, statuses=len(STATUSES), priorities=len(PRIORITIES) - 1)
        self.client_id = str(uuid.UUID(int=rng.getrandbits(128)))
        self.public_key = f"pub{rng.getrandbits(40):010x}"
        self.private_key = f"priv{rng.getrandbits(64):016x}"
        self.limited_public_key = f"lim{rng.getrandbits(40):010x}"
        self.signing_key = f"sk{rng.getrandbits(128):032x}"
        self.key_id = str(rng.randrange(1000, 9999))
        self.boards: list[dict[str, Any]] = [{"id": i + 1, "name": b} for i, b in enumerate(BOARDS)]
        self.statuses: dict[int, list[dict[str, Any]]] = {
            b["id"]: [
                {"id": b["id"] * 100 + j, "name": s, "closedStatus": s in ("Completed", "Closed")}
                for j, s in enumerate(STATUSES)
            ]
            for b in self.boards
        }
        self.priorities = [{"id": 10 - i, "name": p, "sort": i} for i, p in enumerate(PRIORITIES)]
        self.member = {"id": 150, "identifier": "TTech", "name": "Tess Tech"}
        self.companies: dict[int, dict[str, Any]] = {}
        self.contacts: dict[int, dict[str, Any]] = {}
        self.configurations: dict[int, dict[str, Any]] = {}
        self.tickets: dict[int, dict[str, Any]] = {}
        self.notes: dict[int, list[dict[str, Any]]] = {}
        self.callbacks: dict[int, dict[str, Any]] = {}
        self._next_note = 5000
        comp_ids = []
        for comp in data.companies:
            cid = 250 + comp.index
            comp_ids.append(cid)
            ident = re.sub(r"[^A-Za-z]", "", comp.name)[:25]
            self.companies[cid] = {
                "id": cid,
                "identifier": ident,
                "name": comp.name,
                "status": {"id": 1, "name": "Active"},
                "website": f"www.{comp.domain}",
                "types": [{"id": 1, "name": "Client"}],
                "deletedFlag": False,
                "_info": {"lastUpdated": "2025-12-01T09:00:00Z"},
            }
        contact_ids = []
        for person in data.contacts:
            pid = 1000 + person.index
            contact_ids.append(pid)
            company = self.companies[comp_ids[person.company]]
            self.contacts[pid] = {
                "id": pid,
                "firstName": person.first,
                "lastName": person.last,
                "company": self._ref(company),
                "inactiveFlag": False,
                "communicationItems": [
                    {
                        "id": 1,
                        "type": {"id": 1, "name": "Email"},
                        "value": person.email,
                        "defaultFlag": True,
                        "communicationType": "Email",
                    },
                    {
                        "id": 2,
                        "type": {"id": 2, "name": "Direct"},
                        "value": person.phone,
                        "defaultFlag": True,
                        "communicationType": "Phone",
                    },
                ],
                "_info": {"lastUpdated": "2025-12-01T09:00:00Z"},
            }
        for dev in data.devices:
            did = 3000 + dev.index
            company = self.companies[comp_ids[dev.company]]
            self.configurations[did] = {
                "id": did,
                "name": dev.name,
                "type": {"id": 1, "name": "Managed Workstation"},
                "status": {"id": 1, "name": "Active"},
                "company": self._ref(company),
                "contact": None,
                "serialNumber": f"SN{rng.getrandbits(32):08X}",
                "ipAddress": f"10.0.{dev.company}.{dev.index % 250 + 1}",
                "osType": dev.os,
                "lastLoginName": None,
                "activeFlag": True,
                "_info": {"lastUpdated": cw_time(dev.last_seen)},
            }
        for t in data.tickets:
            tid = 100_000 + t.index
            board = self.boards[0 if t.index % 5 else 1]
            company = self.companies[comp_ids[t.company]]
            contact = self.contacts[contact_ids[t.contact]]
            self.tickets[tid] = self._record(
                tid,
                t.subject,
                board,
                STATUSES[t.status],
                PRIORITIES[t.priority],
                company,
                contact,
                cw_time(t.created),
                cw_time(t.updated),
            )
            self.notes[tid] = [self._note(tid, t.description, detail=True, internal=False, when=cw_time(t.created))]

    @staticmethod
    def _ref(obj: dict[str, Any]) -> dict[str, Any]:
        ref = {"id": obj["id"], "name": obj.get("name")}
        if "identifier" in obj:
            ref["identifier"] = obj["identifier"]
        return {**ref, "_info": {}}

    def _status(self, board_id: int, name: str) -> dict[str, Any] | None:
        return next((s for s in self.statuses[board_id] if s["name"].casefold() == name.casefold()), None)

    def _record(
        self,
        tid: int,
        summary: str,
        board: dict[str, Any],
        status: str,
        priority: str,
        comp: dict[str, Any],
        contact: dict[str, Any] | None,
        entered: str,
        updated: str,
    ) -> dict[str, Any]:
        st = self._status(board["id"], status)
        pr = next(p for p in self.priorities if p["name"] == priority)
        email = contact["communicationItems"][0]["value"] if contact else None
        return {
            "id": tid,
            "summary": summary,
            "recordType": "ServiceTicket",
            "board": self._ref(board),
            "status": self._ref(st or {}),
            "priority": {"id": pr["id"], "name": pr["name"], "sort": pr["sort"], "_info": {}},
            "company": self._ref(comp),
            "contact": {
                "id": contact["id"],
                "name": f"{contact['firstName']} {contact['lastName']}",
                "_info": {},
            }
            if contact
            else None,
            "contactEmailAddress": email,
            "owner": self.member,
            "team": None,
            "severity": "Medium",
            "impact": "Medium",
            "source": {"id": 2, "name": "Email"},
            "closedFlag": bool(st and st["closedStatus"]),
            "resources": "TTech",
            "customFields": [],
            "_info": {
                "lastUpdated": updated,
                "dateEntered": entered,
                "enteredBy": "TTech",
                "updatedBy": "TTech",
            },
        }

    def _note(
        self,
        tid: int,
        text: str,
        *,
        detail: bool,
        internal: bool,
        resolution: bool = False,
        when: str | None = None,
    ) -> dict[str, Any]:
        self._next_note += 1
        return {
            "id": self._next_note,
            "ticketId": tid,
            "text": text,
            "detailDescriptionFlag": detail,
            "internalAnalysisFlag": internal,
            "resolutionFlag": resolution,
            "issueFlag": False,
            "member": self.member,
            "contact": None,
            "customerUpdatedFlag": False,
            "processNotifications": False,
            "dateCreated": when or cw_time(self.clock.now()),
            "createdBy": "TTech",
            "internalFlag": internal,
            "externalFlag": detail,
            "_info": {"lastUpdated": when or cw_time(self.clock.now())},
        }

    # --- auth, paging ------------------------------------------------------------------

    def _auth(self, request: Request) -> JSONResponse | None:
        header = request.headers.get("authorization", "")
        try:
            user, _, secret = base64.b64decode(header.removeprefix("Basic ")).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            user, secret = "", ""
        company, _, public = user.partition("+")
        if (
            company.lower() != self.company_id
            or secret != self.private_key
            or public not in (self.public_key, self.limited_public_key)
        ):
            return cw_error(
                401,
                "Unauthorized",
                "Authentication failed: check the company id, public and private keys",
            )
        if request.headers.get("clientid") != self.client_id:
            return cw_error(
                401,
                "Unauthorized",
                "A valid clientId header is required (developer.connectwise.com/ClientID)",
            )
        if public == self.limited_public_key and "/service/" in request.url.path:
            return cw_error(
                403,
                "Unauthorized",
                "The API member's security role does not allow Service Desk > Service Tickets (Inquire Level)",
            )
        return None

    def _list(self, request: Request, rows: list[dict[str, Any]]) -> Response:
        q = request.query_params
        try:
            if q.get("conditions"):
                tree = parse(q["conditions"])
                rows = [r for r in rows if evaluate(tree, r)]
            if q.get("childConditions") or q.get("customFieldConditions"):
                raise ConditionError("childConditions are not simulated")
        except ConditionError as exc:
            return cw_error(400, "InvalidObject", str(exc), resource="conditions")
        order = q.get("orderBy") or "id asc"
        for part in reversed([p.strip() for p in order.split(",") if p.strip()]):
            field, _, direction = part.partition(" ")
            field = {"lastUpdated": "_info/lastUpdated"}.get(field, field)
            rows.sort(key=_sort_key(field), reverse=direction.strip().lower() == "desc")
        size = min(MAX_PAGE_SIZE, max(1, int(q.get("pageSize") or 25)))
        base = str(request.url).split("?")[0]
        params = {k: v for k, v in q.items() if k not in ("page", "pageId")}
        links: list[str] = []
        if request.headers.get("pagination-type", "").lower() == "forward-only":
            after = int(q.get("pageId") or 0)
            rows = sorted((r for r in rows if r["id"] > after), key=lambda r: r["id"])
            page_rows = rows[:size]
            if len(rows) > size:
                links.append(f'<{base}?{urlencode({**params, "pageId": page_rows[-1]["id"]})}>; rel="next"')
        else:
            page = max(1, int(q.get("page") or 1))
            last = max(1, -(-len(rows) // size))
            page_rows = rows[(page - 1) * size : page * size]

            def link(n: int, rel: str) -> str:
                return f'<{base}?{urlencode({**params, "page": n})}>; rel="{rel}"'

            if page > 1:
                links += [link(page - 1, "prev"), link(1, "first")]
            if page < last:
                links += [link(page + 1, "next"), link(last, "last")]
        body = json.dumps(page_rows)
        if self.faults.take("malformed"):
            body = body[: max(5, len(body) // 2)]
        headers = {"Link": ", ".join(links)} if links else {}
        return Response(body, media_type="application/json", headers=headers)

    def throttle_response(self) -> Response:
        """CW throttles with 429 and ``Retry-After`` (seconds)."""
        response = cw_error(429, "TooManyRequests", "Too many requests, slow down")
        response.headers["Retry-After"] = str(self.retry_after_seconds)
        return response

    def server_error_response(self) -> Response:
        """CW's 500 body."""
        return cw_error(500, "ConnectWiseApi", "An internal error occurred")

    # --- routes -------------------------------------------------------------------------

    def add_vendor_routes(self, app: FastAPI) -> None:
        """Register the CW REST routes."""

        @app.get("/login/companyinfo/{company}")
        async def company_info(company: str, request: Request) -> Response:
            if company.lower() != self.company_id:
                return JSONResponse(None)
            return JSONResponse(
                {
                    "CompanyName": "Demo MSP",
                    "Codebase": CODEBASE,
                    "VersionCode": "v2025.16",
                    "VersionNumber": "v4.6",
                    "CompanyID": self.company_id,
                    "IsCloud": True,
                    "SiteURL": request.url.netloc,
                }
            )

        async def key(id: str = "") -> Response:
            if id != self.key_id:
                return cw_error(404, "NotFound", "No such callback key")
            return JSONResponse({"signing_key": self.signing_key})

        app.add_api_route(f"/{CODEBASE}system/callbackkey/index.rails", key)
        app.add_api_route(f"/{CODEBASE}/system/callbackkey/index.rails", key)

        @app.middleware("http")
        async def auth(request: Request, call_next: Any) -> Response:
            if request.url.path.startswith(API):
                problem = self._auth(request)
                if problem is not None:
                    return problem
                request.state.api = True
            return await call_next(request)  # type: ignore[no-any-return]

        @app.get(f"{API}/system/info")
        async def info() -> dict[str, Any]:
            return {
                "version": "v2025.16",
                "isCloud": True,
                "serverTimeZone": "UTC",
                "cloudRegion": "NA",
            }

        @app.get(f"{API}/service/tickets")
        async def tickets(request: Request) -> Response:
            return self._list(request, list(self.tickets.values()))

        @app.get(f"{API}/service/tickets/count")
        async def count(request: Request) -> dict[str, int]:
            rows = list(self.tickets.values())
            if request.query_params.get("conditions"):
                tree = parse(request.query_params["conditions"])
                rows = [r for r in rows if evaluate(tree, r)]
            return {"count": len(rows)}

        @app.post(f"{API}/service/tickets", status_code=201)
        async def create(request: Request) -> Response:
            body = await request.json()
            with self.lock:
                return self._create(body)

        @app.get(f"{API}/service/tickets/{{tid}}")
        async def get(tid: int) -> Response:
            ticket = self.tickets.get(tid)
            if ticket is None:
                return cw_error(404, "NotFound", f"Ticket with id {tid} not found")
            return JSONResponse(ticket)

        @app.patch(f"{API}/service/tickets/{{tid}}")
        async def patch(tid: int, request: Request) -> Response:
            ops = await request.json()
            with self.lock:
                return self._patch(tid, ops)

        @app.get(f"{API}/service/tickets/{{tid}}/notes")
        async def notes(tid: int, request: Request) -> Response:
            if tid not in self.tickets:
                return cw_error(404, "NotFound", f"Ticket with id {tid} not found")
            return self._list(request, list(self.notes[tid]))

        @app.post(f"{API}/service/tickets/{{tid}}/notes", status_code=201)
        async def add_note(tid: int, request: Request) -> Response:
            body = await request.json()
            with self.lock:
                return self._add_note(tid, body)

        @app.get(f"{API}/service/boards")
        async def boards(request: Request) -> Response:
            return self._list(request, list(self.boards))

        @app.get(f"{API}/service/boards/{{bid}}/statuses")
        async def statuses(bid: int, request: Request) -> Response:
            if bid not in self.statuses:
                return cw_error(404, "NotFound", "Board not found")
            return self._list(request, list(self.statuses[bid]))

        @app.get(f"{API}/service/priorities")
        async def priorities(request: Request) -> Response:
            return self._list(request, list(self.priorities))

        @app.get(f"{API}/company/companies")
        async def companies(request: Request) -> Response:
            return self._list(request, list(self.companies.values()))

        @app.get(f"{API}/company/contacts")
        async def contacts(request: Request) -> Response:
            return self._list(request, list(self.contacts.values()))

        @app.get(f"{API}/company/configurations")
        async def configurations(request: Request) -> Response:
            return self._list(request, list(self.configurations.values()))

        @app.get(f"{API}/system/callbacks")
        async def callbacks(request: Request) -> Response:
            return self._list(request, list(self.callbacks.values()))

        @app.post(f"{API}/system/callbacks", status_code=201)
        async def add_callback(request: Request) -> Response:
            body = await request.json()
            missing = [f for f in ("url", "objectId", "type", "level") if body.get(f) in (None, "")]
            if missing:
                return cw_error(
                    400,
                    "InvalidObject",
                    "CallbackEntry object is invalid",
                    field=missing[0],
                    resource="callbackEntry",
                )
            entry = {
                "id": len(self.callbacks) + 1,
                "description": "",
                "inactiveFlag": False,
                "payloadVersion": None,
                "isSoapCallbackFlag": False,
                "isSelfSuppressedFlag": False,
                **body,
                "_info": {},
            }
            self.callbacks[entry["id"]] = entry
            return JSONResponse(entry, 201)

        @app.delete(f"{API}/system/callbacks/{{cid}}", status_code=204)
        async def delete_callback(cid: int) -> Response:
            if self.callbacks.pop(cid, None) is None:
                return cw_error(404, "NotFound", "Callback not found")
            return Response(status_code=204)

    def _create(self, body: dict[str, Any]) -> Response:
        summary = body.get("summary")
        if not summary or len(summary) > 100:
            return cw_error(400, "InvalidObject", "Ticket object is invalid", field="summary", resource="ticket")
        ref = body.get("company") or {}
        comp = self.companies.get(int(ref.get("id") or 0)) or next(
            (c for c in self.companies.values() if c["identifier"] == ref.get("identifier")), None
        )
        if comp is None:
            return cw_error(400, "InvalidObject", "Company not found", field="company", resource="ticket")
        board = next(
            (
                b
                for b in self.boards
                if b["name"] == (body.get("board") or {}).get("name") or b["id"] == (body.get("board") or {}).get("id")
            ),
            self.boards[0],
        )
        status = (body.get("status") or {}).get("name") or "New"
        priority = (body.get("priority") or {}).get("name") or PRIORITIES[1]
        if self._status(board["id"], status) is None:
            return cw_error(
                400,
                "InvalidObject",
                f"Status '{status}' is not valid for board {board['name']}",
                field="status",
                resource="ticket",
            )
        if priority not in PRIORITIES:
            return cw_error(400, "InvalidObject", "Priority not found", field="priority", resource="ticket")
        contact = self.contacts.get(int((body.get("contact") or {}).get("id") or 0))
        now = cw_time(self.clock.now())
        tid = max(self.tickets, default=100_000) + 1
        self.tickets[tid] = self._record(tid, summary, board, status, priority, comp, contact, now, now)
        self.notes[tid] = []
        if body.get("initialDescription"):
            self.notes[tid].append(self._note(tid, body["initialDescription"], detail=True, internal=False))
        if body.get("initialInternalAnalysis"):
            self.notes[tid].append(self._note(tid, body["initialInternalAnalysis"], detail=False, internal=True))
        self._changed(tid, "added")
        return JSONResponse(self.tickets[tid], 201)

    def _patch(self, tid: int, ops: Any) -> Response:
        ticket = self.tickets.get(tid)
        if ticket is None:
            return cw_error(404, "NotFound", f"Ticket with id {tid} not found")
        if not isinstance(ops, list):
            return cw_error(400, "InvalidObject", "PATCH body must be a JSON-Patch array")
        for op in ops:
            path = str(op.get("path", "")).strip("/")
            value = op.get("value")
            if op.get("op") != "replace":
                return cw_error(400, "InvalidObject", f"unsupported op {op.get('op')}")
            if path == "summary":
                ticket["summary"] = str(value)[:100]
            elif path == "status":
                name = value.get("name") if isinstance(value, dict) else None
                st = (
                    self._status(ticket["board"]["id"], name)
                    if name
                    else next(
                        (s for s in self.statuses[ticket["board"]["id"]] if s["id"] == (value or {}).get("id")),
                        None,
                    )
                )
                if st is None:
                    return cw_error(
                        400,
                        "InvalidObject",
                        "Status is not valid for this board",
                        field="status",
                        resource="ticket",
                    )
                ticket["status"] = self._ref(st)
                ticket["closedFlag"] = st["closedStatus"]
            elif path == "priority":
                pr = next(
                    (
                        p
                        for p in self.priorities
                        if p["name"] == (value or {}).get("name") or p["id"] == (value or {}).get("id")
                    ),
                    None,
                )
                if pr is None:
                    return cw_error(
                        400,
                        "InvalidObject",
                        "Priority not found",
                        field="priority",
                        resource="ticket",
                    )
                ticket["priority"] = {
                    "id": pr["id"],
                    "name": pr["name"],
                    "sort": pr["sort"],
                    "_info": {},
                }
            else:
                return cw_error(
                    400,
                    "InvalidObject",
                    f"{path} cannot be patched here",
                    field=path,
                    resource="ticket",
                )
        ticket["_info"]["lastUpdated"] = cw_time(self.clock.now())
        self._changed(tid, "updated")
        return JSONResponse(ticket)

    def _add_note(self, tid: int, body: dict[str, Any]) -> Response:
        if tid not in self.tickets:
            return cw_error(404, "NotFound", f"Ticket with id {tid} not found")
        flags = [
            body.get("detailDescriptionFlag"),
            body.get("internalAnalysisFlag"),
            body.get("resolutionFlag"),
        ]
        if not body.get("text") or not any(flags):
            return cw_error(
                400,
                "InvalidObject",
                "A note needs text and one of detailDescriptionFlag, internalAnalysisFlag, resolutionFlag",
                resource="serviceNote",
            )
        note = self._note(
            tid,
            body["text"],
            detail=bool(flags[0]),
            internal=bool(flags[1]),
            resolution=bool(flags[2]),
        )
        self.notes[tid].append(note)
        self.tickets[tid]["_info"]["lastUpdated"] = cw_time(self.clock.now())
        self._changed(tid, "updated")
        return JSONResponse(note, 201)

    # --- callbacks ----------------------------------------------------------------------

    def _payload(self, tid: int, action: str) -> tuple[dict[str, str], bytes]:
        ticket = self.tickets[tid]
        body = json.dumps(
            {
                "MessageId": str(uuid.uuid4()),
                "FromUrl": self.public_url.split("//")[-1],
                "CompanyId": self.company_id,
                "MemberId": "ttech",
                "Action": action,
                "Type": "ticket",
                "ID": tid,
                "ProductInstanceId": None,
                "PartnerId": None,
                "Entity": json.dumps(ticket),
                "Metadata": {"key_url": f"{self.public_url}/{CODEBASE}system/callbackkey/index.rails?id={self.key_id}"},
            }
        ).encode()
        return {
            "Content-Type": "application/json",
            "x-content-signature": sign(body, self.signing_key),
        }, body

    def _changed(self, tid: int, action: str) -> None:
        for cb in self.callbacks.values():
            if not cb.get("inactiveFlag") and str(cb.get("type", "")).lower() == "ticket":
                headers, body = self._payload(tid, action)
                self.deliver(cb["url"], headers, body)

    def webhook_sample(self, ticket_id: str, action: str) -> tuple[dict[str, str], bytes]:
        """The signed callback CW would send for this ticket."""
        if int(ticket_id) not in self.tickets:
            raise HTTPException(404, "no such ticket")
        return self._payload(int(ticket_id), action)

    # --- admin --------------------------------------------------------------------------

    def admin_create_ticket(self, change: TicketChange) -> dict[str, Any]:
        """Create a ticket as a dispatcher would in Manage."""
        company = int(change.company) if change.company else next(iter(self.companies))
        body: dict[str, Any] = {
            "summary": change.subject or "Simulated ticket",
            "company": {"id": company},
        }
        if change.status:
            body["status"] = {"name": change.status}
        if change.priority:
            body["priority"] = {"name": change.priority}
        return self._admin_result(self._create(body))

    def admin_update_ticket(self, ticket_id: str, change: TicketChange) -> dict[str, Any]:
        """Edit a ticket as a technician would in Manage."""
        ops = [
            {"op": "replace", "path": k, "value": v if k == "summary" else {"name": v}}
            for k, v in (
                ("summary", change.subject),
                ("status", change.status),
                ("priority", change.priority),
            )
            if v is not None
        ]
        return self._admin_result(self._patch(int(ticket_id), ops))

    @staticmethod
    def _admin_result(response: Response) -> dict[str, Any]:
        data = json.loads(bytes(response.body))
        if response.status_code >= 400:
            raise HTTPException(response.status_code, data.get("message"))
        return dict(data)

    def admin_ticket(self, ticket_id: str) -> dict[str, Any]:
        """The stored ticket."""
        ticket = self.tickets.get(int(ticket_id))
        if ticket is None:
            raise HTTPException(404, "no such ticket")
        return ticket

    def admin_notes(self, ticket_id: str) -> list[dict[str, Any]]:
        """The stored notes of a ticket."""
        self.admin_ticket(ticket_id)
        return self.notes[int(ticket_id)]

    def summary(self) -> dict[str, Any]:
        """Counts and the credentials to connect with."""
        return {
            "vendor": self.name,
            "tickets": len(self.tickets),
            "clients": len(self.companies),
            "contacts": len(self.contacts),
            "devices": len(self.configurations),
            "callbacks": len(self.callbacks),
            "credentials": {
                "site_url": "<base>",
                "company_id": self.company_id,
                "public_key": self.public_key,
                "private_key": self.private_key,
                "client_id": self.client_id,
                "limited_public_key": self.limited_public_key,
            },
        }

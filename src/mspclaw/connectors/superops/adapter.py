"""SuperOps.ai adapter: maps the MSP GraphQL API (tickets, notes, clients, users, assets,
alerts, script runs) onto the connector protocol. No webhooks: SuperOps has no such API.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx

from mspclaw.connectors.base import Connector
from mspclaw.connectors.errors import (
    AuthFailed,
    MissingPermission,
    NotFound,
    VendorError,
    WrongUrl,
)
from mspclaw.connectors.http import ResilientClient
from mspclaw.connectors.models import (
    Alert,
    Client,
    Contact,
    Device,
    Note,
    Page,
    ScriptJob,
    ScriptJobStatus,
    Ticket,
    TicketCreate,
    TicketUpdate,
    parse_vendor_time,
)

TICKET_FIELDS = """ticketId displayId subject status priority client requester technician
 techGroup site source requestType createdTime updatedTime"""
NOTE_FIELDS = "noteId addedBy addedOn content privacyType"
CLIENT_FIELDS = "accountId name stage status emailDomains"
USER_FIELDS = "userId firstName lastName name email contactNumber client"
ASSET_FIELDS = """assetId name hostName client site platform status lastCommunicatedTime
 lastReportedTime patchStatus"""
ALERT_FIELDS = "id message createdTime status severity description asset policy"
DONE_OK = {"SUCCESS", "SUCCEEDED", "COMPLETED", "COMPLETE"}
DONE_FAILED = {"FAILED", "FAILURE", "ERROR", "TIMEOUT", "TIMED_OUT", "CANCELLED"}


def so_time(dt: datetime) -> str:
    """SuperOps wire format: UTC, no offset, milliseconds."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]


def _client_errors(body: Any) -> list[dict[str, Any]]:
    errors = body.get("errors") if isinstance(body, dict) else None
    found: list[dict[str, Any]] = []
    for err in errors or []:
        for item in ((err or {}).get("extensions") or {}).get("clientError") or []:
            found.append(item)
    return found


def _is_throttled(response: httpx.Response) -> bool:
    """SuperOps throttles with HTTP 200 and ``clientError[].code == rate_limit_exceeded``."""
    try:
        body = response.json()
    except ValueError:
        return False
    return any(e.get("code") == "rate_limit_exceeded" for e in _client_errors(body))


class SuperOpsConnector(Connector):
    """The SuperOps MSP GraphQL API as an MSPclaw connector."""

    spec_file: ClassVar[Path] = Path(__file__).with_name("spec.yaml")
    simulator: ClassVar[str | None] = "mspclaw.connectors.superops.simulator:SuperOpsSimulator"
    page_size: ClassVar[int] = 100  # the documented maximum pageSize
    #: Pages come oldest change first, so the sync engine may checkpoint after every page.
    tickets_ordered_by_update: ClassVar[bool] = True

    def build_http(self) -> ResilientClient:
        """Bearer token plus the mandatory ``CustomerSubDomain`` header on every call."""
        # httpx would add a trailing slash to a base URL path; SuperOps wants exactly /msp.
        parts = urlsplit(self.config["api_url"])
        self._endpoint = parts.path.rstrip("/") or "/"
        return self.client(
            f"{parts.scheme}://{parts.netloc}",
            headers={
                "Authorization": f"Bearer {self.config['api_token']}",
                "CustomerSubDomain": self.config["subdomain"],
                "Content-Type": "application/json",
            },
            is_throttled=_is_throttled,
        )

    async def _gql(
        self, query: str, variables: dict[str, Any] | None = None, *, retry_safe: bool = True
    ) -> dict[str, Any]:
        """Run one operation; map HTTP and ``clientError`` failures to connector errors."""
        try:
            body = await self.http.request_json(
                "POST",
                self._endpoint,
                json={"query": query, "variables": variables or {}},
                idempotent=retry_safe,
                allow_status=frozenset({400}),
            )
        except NotFound as exc:
            raise WrongUrl(f"{self.config['api_url']} is not a SuperOps GraphQL endpoint (HTTP 404)") from exc
        if not isinstance(body, dict) or not ({"data", "errors", "message"} & set(body)):
            raise WrongUrl(f"{self.config['api_url']} did not answer like the SuperOps API")
        if "data" not in body and "errors" not in body:
            # HTTP 400 with {"message": ...}: SuperOps uses it for an invalid subdomain.
            raise AuthFailed(f"SuperOps refused the request: {body.get('message')} (check the customer subdomain)")
        codes = _client_errors(body)
        for err in codes:
            code = err.get("code")
            if code == "forbidden":
                raise MissingPermission("the API token's role may not perform this operation", detail=err)
            if code in (
                "subscription_trial_expired",
                "subscription_paused",
                "subscription_cancelled",
            ):
                raise MissingPermission(f"the SuperOps subscription is not active ({code})", detail=err)
            if code == "entity_does_not_exist":
                raise NotFound("SuperOps says the object does not exist", detail=err)
        if body.get("errors"):
            messages = "; ".join(str(e.get("message")) for e in body["errors"])
            raise VendorError(f"SuperOps refused the operation: {messages}", detail={"clientError": codes})
        data = body.get("data")
        if not isinstance(data, dict):
            raise VendorError("SuperOps answered without data")
        return data

    async def probe(self) -> None:
        """Read one ticket: proves URL, token, subdomain and ticket permission."""
        await self._gql(
            "query($i: ListInfoInput!){ getTicketList(input: $i){ tickets { ticketId } listInfo { totalCount } } }",
            {"i": {"page": 1, "pageSize": 1}},
        )

    # --- tickets ----------------------------------------------------------------------

    def _ticket(self, r: dict[str, Any], description: str | None = None) -> Ticket:
        tid = str(r["ticketId"])
        updated = parse_vendor_time(r.get("updatedTime")) or parse_vendor_time(r.get("createdTime"))
        if updated is None:
            raise VendorError(f"SuperOps ticket {tid} has no updatedTime")
        return Ticket(
            external_id=tid,
            number=r.get("displayId"),
            subject=r.get("subject") or "",
            description=description,
            status=self.mappings.to_normalised("status", r.get("status"), external_id=tid),
            raw_status=r.get("status"),
            priority=self.mappings.to_normalised("priority", r.get("priority"), external_id=tid),
            raw_priority=r.get("priority"),
            client_external_id=_ref(r.get("client"), "accountId"),
            contact_external_id=_ref(r.get("requester"), "userId"),
            assignee=_ref(r.get("technician"), "name"),
            queue=_ref(r.get("techGroup"), "name"),
            created_at=parse_vendor_time(r.get("createdTime")),
            updated_at=updated,
            raw=r,
        )

    async def list_tickets(self, since: datetime | None, cursor: str | None) -> Page[Ticket]:
        """Tickets changed after ``since``, oldest change first, 100 per page.

        Paging is by time (keyset), not page number: each next page asks for changes after
        the last one seen (minus 1 ms, so same-time tickets are re-read, never skipped). A
        ticket edited during the walk moves to the end and is read there; page-number
        paging would shift every later page by one and skip a ticket. Only when a whole
        page shares one timestamp does the walk fall back to the next page number.

        Unconfirmed (reference marks it ``?``): the ``updatedTime``/``after`` condition with
        an ``updatedTime ASC`` sort; the attribute and operator are documented, the pairing
        is not. Results are therefore also filtered client-side, so a server that ignored
        the condition would cost requests, not correctness.
        """
        state = json.loads(cursor) if cursor else {}
        after = parse_vendor_time(state["after"]) if state.get("after") else since
        page = int(state.get("page") or 1)
        info: dict[str, Any] = {
            "page": page,
            "pageSize": self.page_size,
            "sort": [
                {"attribute": "updatedTime", "order": "ASC"},
                {"attribute": "ticketId", "order": "ASC"},
            ],
        }
        if after is not None:
            info["condition"] = {
                "attribute": "updatedTime",
                "operator": "after",
                "value": so_time(after),
            }
        data = await self._gql(
            f"query($i: ListInfoInput!){{ getTicketList(input: $i){{ tickets {{ {TICKET_FIELDS}"
            " } listInfo { page pageSize hasMore totalCount } } }",
            {"i": info},
        )
        block = data.get("getTicketList") or {}
        tickets = [self._ticket(r) for r in block.get("tickets") or []]
        next_cursor: str | None = None
        if tickets and (block.get("listInfo") or {}).get("hasMore"):
            first, last = tickets[0].updated_at, tickets[-1].updated_at
            if last > first:
                boundary = last - timedelta(milliseconds=1)
                seen = [t.external_id for t in tickets if t.updated_at == last]
                next_cursor = json.dumps({"after": so_time(boundary), "page": 1, "seen": seen})
            else:
                next_cursor = json.dumps({**state, "page": page + 1})
        # Tickets re-read at the boundary were returned by the previous page already.
        seen_before = set(state.get("seen") or [])
        tickets = [
            t
            for t in tickets
            if not (t.external_id in seen_before and after and t.updated_at <= after + timedelta(milliseconds=1))
        ]
        if since is not None:
            tickets = [t for t in tickets if t.updated_at > since]
        watermark = max((t.updated_at for t in tickets), default=None)
        kept = [t for t in tickets if self.mappings.queue_allowed(t.queue)]
        return Page(items=kept, next_cursor=next_cursor, watermark=watermark)

    async def get_ticket(self, external_id: str) -> Ticket:
        """One ticket, with its description (the first ``DESCRIPTION`` conversation item)."""
        data = await self._gql(
            f"query($t: TicketIdentifierInput!){{ getTicket(input: $t){{ {TICKET_FIELDS} }}"
            " getTicketConversationList(input: $t){ content type } }",
            {"t": {"ticketId": external_id}},
        )
        if data.get("getTicket") is None:
            raise NotFound(f"SuperOps ticket {external_id} does not exist")
        description = next(
            (c.get("content") for c in data.get("getTicketConversationList") or [] if c.get("type") == "DESCRIPTION"),
            None,
        )
        return self._ticket(data["getTicket"], description)

    async def create_ticket(self, ticket: TicketCreate) -> Ticket:
        """Create a ticket (source ``INTEGRATION``); not retried on 5xx (no idempotency)."""
        payload: dict[str, Any] = {
            "subject": ticket.subject,
            "client": {"accountId": ticket.client_external_id},
            "source": "INTEGRATION",
        }
        if ticket.description:
            payload["description"] = ticket.description
        if ticket.contact_external_id:
            payload["requester"] = {"userId": ticket.contact_external_id}
        if ticket.status:
            payload["status"] = self.mappings.to_vendor("status", ticket.status)
        if ticket.priority:
            payload["priority"] = self.mappings.to_vendor("priority", ticket.priority)
        data = await self._gql(
            f"mutation($t: CreateTicketInput!){{ createTicket(input: $t){{ {TICKET_FIELDS} }} }}",
            {"t": payload},
            retry_safe=False,
        )
        return self._ticket(data["createTicket"], ticket.description)

    async def update_ticket(self, external_id: str, update: TicketUpdate) -> Ticket:
        """Write only the fields set; status/priority go through this connection's mapping."""
        payload: dict[str, Any] = {"ticketId": external_id}
        if update.subject is not None:
            payload["subject"] = update.subject
        if update.status is not None:
            payload["status"] = self.mappings.to_vendor("status", update.status)
        if update.priority is not None:
            payload["priority"] = self.mappings.to_vendor("priority", update.priority)
        data = await self._gql(
            f"mutation($t: UpdateTicketInput!){{ updateTicket(input: $t){{ {TICKET_FIELDS} }} }}",
            {"t": payload},
        )
        return self._ticket(data["updateTicket"])

    def _note(self, ticket_id: str, n: dict[str, Any]) -> Note:
        return Note(
            external_id=str(n["noteId"]),
            ticket_external_id=ticket_id,
            body=n.get("content") or "",
            internal=n.get("privacyType") != "PUBLIC",
            author=_ref(n.get("addedBy"), "name"),
            created_at=parse_vendor_time(n.get("addedOn")),
            raw=n,
        )

    async def add_note(self, external_id: str, body: str, *, internal: bool) -> Note:
        """A note with explicit visibility (SuperOps defaults to PRIVATE; we always say)."""
        data = await self._gql(
            f"mutation($n: CreateTicketNoteInput!){{ createTicketNote(input: $n){{ {NOTE_FIELDS} }} }}",
            {
                "n": {
                    "ticket": {"ticketId": external_id},
                    "content": body,
                    "privacyType": "PRIVATE" if internal else "PUBLIC",
                }
            },
            retry_safe=False,
        )
        return self._note(external_id, data["createTicketNote"])

    async def list_notes(self, external_id: str) -> list[Note]:
        """All notes of a ticket (SuperOps returns them unpaged)."""
        data = await self._gql(
            f"query($t: TicketIdentifierInput!){{ getTicketNoteList(input: $t){{ {NOTE_FIELDS} }} }}",
            {"t": {"ticketId": external_id}},
        )
        return [self._note(external_id, n) for n in data.get("getTicketNoteList") or []]

    # --- directory --------------------------------------------------------------------

    async def _all(
        self,
        op: str,
        key: str,
        fields: str,
        extra: dict[str, Any] | None = None,
        input_type: str = "ListInfoInput",
        condition: dict[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        page = 1
        while True:
            info: dict[str, Any] = {"page": page, "pageSize": self.page_size}
            if condition:
                info["condition"] = condition
            variables = {**(extra or {}), "listInfo": info} if extra else info
            data = await self._gql(
                f"query($i: {input_type}!){{ {op}(input: $i){{ {key} {{ {fields} }} listInfo {{ hasMore }} }} }}",
                {"i": variables},
            )
            block = data.get(op) or {}
            rows.extend(block.get(key) or [])
            if not (block.get("listInfo") or {}).get("hasMore"):
                return rows
            page += 1

    async def list_clients(self) -> list[Client]:
        """Every client account."""
        return [
            Client(
                external_id=str(c["accountId"]),
                name=c.get("name") or "",
                domains=list(c.get("emailDomains") or []),
                raw=c,
            )
            for c in await self._all("getClientList", "clients", CLIENT_FIELDS)
        ]

    async def list_contacts(self) -> list[Contact]:
        """Every client user, client by client (users are listed per client).

        Unconfirmed: the shape of ``GetClientUserListInput`` (``client`` + ``listInfo``).
        """
        contacts: list[Contact] = []
        for client in await self.list_clients():
            for u in await self._all(
                "getClientUserList",
                "userList",
                USER_FIELDS,
                extra={"client": {"accountId": client.external_id}},
                input_type="GetClientUserListInput",
            ):
                contacts.append(
                    Contact(
                        external_id=str(u["userId"]),
                        client_external_id=_ref(u.get("client"), "accountId") or client.external_id,
                        name=u.get("name") or f"{u.get('firstName', '')} {u.get('lastName', '')}".strip(),
                        email=u.get("email"),
                        phone=u.get("contactNumber"),
                        raw=u,
                    )
                )
        return contacts

    def _device(self, a: dict[str, Any]) -> Device:
        status = str(a.get("status") or "").upper()
        return Device(
            external_id=str(a["assetId"]),
            client_external_id=_ref(a.get("client"), "accountId"),
            name=a.get("name") or "",
            hostname=a.get("hostName"),
            os=a.get("platform"),
            online=None if not status else status == "ONLINE",
            last_seen=parse_vendor_time(a.get("lastCommunicatedTime")),
            raw=a,
        )

    async def list_devices(self) -> list[Device]:
        """Every asset."""
        return [self._device(a) for a in await self._all("getAssetList", "assets", ASSET_FIELDS)]

    async def get_device_status(self, external_id: str) -> Device:
        """One asset's current state (online, last contact)."""
        data = await self._gql(
            f"query($a: AssetIdentifierInput!){{ getAsset(input: $a){{ {ASSET_FIELDS} }} }}",
            {"a": {"assetId": external_id}},
        )
        if data.get("getAsset") is None:
            raise NotFound(f"SuperOps asset {external_id} does not exist")
        return self._device(data["getAsset"])

    # --- alerts -----------------------------------------------------------------------

    def _alert(self, a: dict[str, Any]) -> Alert:
        asset = a.get("asset") or {}
        return Alert(
            external_id=str(a["id"]),
            device_external_id=_ref(asset, "assetId"),
            client_external_id=_ref(asset.get("client"), "accountId"),
            message=a.get("message") or "",
            raw_severity=a.get("severity"),
            open=str(a.get("status") or "").casefold() != "resolved",
            created_at=parse_vendor_time(a.get("createdTime")),
            raw=a,
        )

    async def list_alerts(self, since: datetime | None) -> list[Alert]:
        """Alerts raised after ``since`` (all when ``None``)."""
        condition = {"attribute": "createdTime", "operator": "after", "value": so_time(since)} if since else None
        alerts = [self._alert(a) for a in await self._all("getAlertList", "alerts", ALERT_FIELDS, condition=condition)]
        # The createdTime condition on alerts is not confirmed by the reference: re-check.
        return [a for a in alerts if since is None or (a.created_at and a.created_at > since)]

    async def get_alert(self, external_id: str) -> Alert:
        """One alert (the API has no getAlert; filter the list by id)."""
        rows = await self._all(
            "getAlertList",
            "alerts",
            ALERT_FIELDS,
            condition={"attribute": "id", "operator": "is", "value": external_id},
        )
        if not rows:
            raise NotFound(f"SuperOps alert {external_id} does not exist")
        return self._alert(rows[0])

    async def resolve_alert(self, external_id: str) -> None:
        """Resolve an alert (``resolveAlerts`` answers a Boolean)."""
        data = await self._gql(
            "mutation($a: [ResolveAlertInput!]!){ resolveAlerts(input: $a) }",
            {"a": [{"id": external_id}]},
        )
        if data.get("resolveAlerts") is not True:
            raise VendorError(f"SuperOps did not resolve alert {external_id}")

    # --- scripts ----------------------------------------------------------------------

    async def run_script(self, device: str, script: str, args: dict[str, str]) -> ScriptJob:
        """Run a saved script (by id) on an asset; the job id is the ``actionConfigId``."""
        data = await self._gql(
            "mutation($r: RunScriptInput!){ runScriptOnAsset(input: $r){ actionConfigId script scriptArguments } }",
            {
                "r": {
                    "assetId": device,
                    "scriptId": script,
                    "scriptArguments": [{"name": k, "value": v} for k, v in args.items()],
                }
            },
            retry_safe=False,
        )
        run = data.get("runScriptOnAsset") or {}
        if not run.get("actionConfigId"):
            raise VendorError("SuperOps accepted the script run but returned no actionConfigId")
        return ScriptJob(
            job_id=str(run["actionConfigId"]),
            device_external_id=device,
            script_id=script,
            status="pending",
            started_at=datetime.now(UTC),
            raw=run,
        )

    async def get_script_result(self, job: ScriptJob) -> ScriptJob:
        """Find the job in the asset's activity by ``actionConfigId``.

        Unconfirmed (~, third-party MCP code only): the activity shape and its status/output
        keys; several spellings are accepted and an unknown status reads as still running.
        """
        data = await self._gql(
            "query($a: AssetDetailsListInput!){ getAssetActivity(input: $a)"
            "{ activities { activityId createdTime activityType activityData } } }",
            {
                "a": {
                    "assetId": job.device_external_id,
                    "listInfo": {
                        "page": 1,
                        "pageSize": 50,
                        "sort": [{"attribute": "createdTime", "order": "DESC"}],
                    },
                }
            },
        )
        for activity in (data.get("getAssetActivity") or {}).get("activities") or []:
            info = activity.get("activityData") or {}
            if str(info.get("actionConfigId")) != job.job_id:
                continue
            raw_status = str(info.get("status") or "").upper()
            status: ScriptJobStatus = (
                "succeeded" if raw_status in DONE_OK else "failed" if raw_status in DONE_FAILED else "running"
            )
            exit_code = info.get("exitCode")
            return job.model_copy(
                update={
                    "status": status,
                    "output": info.get("output") or info.get("result"),
                    "exit_code": int(exit_code) if exit_code is not None else None,
                    "finished_at": datetime.now(UTC) if status != "running" else None,
                    "raw": activity,
                }
            )
        return job


def _ref(value: Any, key: str) -> str | None:
    """A field of a SuperOps JSON-scalar reference (``client``, ``requester``, ...)."""
    if isinstance(value, dict) and value.get(key) is not None:
        return str(value[key])
    return None

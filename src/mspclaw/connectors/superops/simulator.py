"""SuperOps.ai simulator: one GraphQL endpoint (``POST /msp``) executed by graphql-core over
an in-memory instance, with SuperOps auth headers, ``ListInfoInput`` paging and conditions,
HTTP-200 ``clientError`` business errors and the 800/min ``rate_limit_exceeded`` throttle.
"""

from __future__ import annotations

import functools
import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import graphql
from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from starlette.requests import ClientDisconnect

from mspclaw.connectors.simulator import Simulator, TicketChange, make_seed
from mspclaw.connectors.superops.schema import SDL

SCHEMA = graphql.build_schema(SDL)
STATUSES = (
    "New",
    "Open",
    "In Progress",
    "Waiting on Customer",
    "On Hold",
    "Resolved",
    "Closed",
    "Scheduled",
)
PRIORITIES = ("Low", "Medium", "High", "Critical", "Urgent")
SCRIPTS = (
    ("Flush DNS cache", "POWERSHELL", True),
    ("Restart print spooler", "POWERSHELL", True),
    ("Clear temp files", "BATCH", True),
    ("Check failing service", "POWERSHELL", False),
)
SCRIPT_SECONDS = 0.3
MAX_PAGE_SIZE = 100


def so_time(dt: datetime, *, ms: bool = True) -> str:
    """SuperOps wire time: UTC without offset, optionally with milliseconds."""
    text = dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
    return text[:-3] if ms else text[:-7]


@functools.lru_cache(maxsize=4096)
def parse_so_time(value: str) -> str:
    """Normalise any ISO time a client sends to the stored (sortable) form."""
    dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return so_time(dt if dt.tzinfo else dt.replace(tzinfo=UTC))


def client_error(code: str, message: str, **param: Any) -> graphql.GraphQLError:
    """A SuperOps business error: HTTP 200 with ``extensions.clientError``."""
    return graphql.GraphQLError(message, extensions={"clientError": [{"code": code, "param": param or None}]})


def _attr(record: dict[str, Any], path: str) -> Any:
    value: Any = record
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _matches(record: dict[str, Any], cond: dict[str, Any]) -> bool:
    if cond.get("joinOperator"):
        results = [_matches(record, c) for c in cond.get("operands") or []]
        return all(results) if cond["joinOperator"].upper() == "AND" else any(results)
    attr, op = cond.get("attribute"), cond.get("operator")
    value: Any = cond.get("value")
    if not attr or not op:
        raise client_error(
            "mandatory_validation_failed",
            "condition needs attribute and operator",
            field="condition",
        )
    actual = _attr(record, attr)
    text = "" if actual is None else str(actual)
    if op in ("after", "before", "on", "between"):
        if not text:
            return False
        if op == "between":
            low, high = (parse_so_time(str(v)) for v in value)
            return low <= text <= high
        wanted = parse_so_time(str(value))
        if op == "on":
            return text[:10] == wanted[:10]
        return text > wanted if op == "after" else text < wanted
    simple = {
        "is": lambda: text.casefold() == str(value).casefold(),
        "isNot": lambda: text.casefold() != str(value).casefold(),
        "isEmpty": lambda: not text,
        "isNotEmpty": lambda: bool(text),
        "contains": lambda: str(value).casefold() in text.casefold(),
        "notContains": lambda: str(value).casefold() not in text.casefold(),
        "startsWith": lambda: text.casefold().startswith(str(value).casefold()),
        "endsWith": lambda: text.casefold().endswith(str(value).casefold()),
        "includes": lambda: text.casefold() in {str(v).casefold() for v in value or []},
        "notIncludes": lambda: text.casefold() not in {str(v).casefold() for v in value or []},
        "greaterThan": lambda: float(text or 0) > float(value),
        "greaterThanOrEqual": lambda: float(text or 0) >= float(value),
        "lessThan": lambda: float(text or 0) < float(value),
        "lessThanOrEqual": lambda: float(text or 0) <= float(value),
    }
    if op not in simple:
        raise client_error("type_validation_failed", f"unsupported operator {op}", field=op)
    return bool(simple[op]())


def list_page(
    records: list[dict[str, Any]],
    info: dict[str, Any] | None,
    key: str,
    presorted: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Apply a ``ListInfoInput`` (condition, sort, page from 1, pageSize ≤ 100).

    ``presorted`` names the ascending order ``records`` already have, so the common sync
    query (updatedTime, ticketId ASC) over 10,000 tickets skips the sort.
    """
    info = info or {}
    page = max(1, int(info.get("page") or 1))
    size = min(MAX_PAGE_SIZE, max(1, int(info.get("pageSize") or 10)))
    cond = info.get("condition")
    rows = [r for r in records if _matches(r, cond)] if cond else list(records)
    sorts = info.get("sort") or []
    orders = {str(x.get("order") or "ASC").upper() for x in sorts}
    wanted = tuple(str(x["attribute"]) for x in sorts)
    if wanted and orders == {"ASC"} and wanted == presorted[: len(wanted)]:
        pass  # already in the requested order
    elif len(orders) == 1:
        # One pass with a tuple key: cheaper than a stable pass per attribute on 10k rows.
        attributes = [str(x["attribute"]) for x in sorts]
        rows.sort(
            key=lambda r: tuple(str(_attr(r, a) or "") for a in attributes),
            reverse=orders == {"DESC"},
        )
    else:
        for sort in reversed(sorts):
            attribute = str(sort["attribute"])
            rows.sort(
                key=lambda r, a=attribute: str(_attr(r, a) or ""),  # type: ignore[misc]
                reverse=str(sort.get("order") or "ASC").upper() == "DESC",
            )
    start = (page - 1) * size
    return {
        key: rows[start : start + size],
        "listInfo": {
            "page": page,
            "pageSize": size,
            "sort": info.get("sort"),
            "condition": cond,
            "hasMore": start + size < len(rows),
            "totalCount": len(rows),
        },
    }


class SuperOpsSimulator(Simulator):
    """An in-memory SuperOps MSP instance served as the real GraphQL API shape."""

    name: ClassVar[str] = "superops"
    vendor_rate_limit: ClassVar[int] = 800
    subdomain = "demo-msp"

    def reset(self, seed: str) -> None:
        """Build companies, users, assets, tickets, alerts and scripts from the seed."""
        rng = random.Random(f"superops:{seed}")
        data = make_seed(seed, tickets=self.ticket_count, statuses=len(STATUSES), priorities=len(PRIORITIES) - 1)
        self.api_token = f"so-{seed}-{rng.getrandbits(64):016x}"
        self.limited_token = f"so-limited-{rng.getrandbits(48):012x}"
        self._next = 7_928_838_372_746_166_000 + rng.randrange(1000)
        self.clients: dict[str, dict[str, Any]] = {}
        self.users: dict[str, dict[str, Any]] = {}
        self.assets: dict[str, dict[str, Any]] = {}
        self.tickets: dict[str, dict[str, Any]] = {}
        self.ticket_writes = 0
        self._sorted_stamp: tuple[int, int] | None = None  # a reset invalidates the order
        self.notes: dict[str, list[dict[str, Any]]] = {}
        self.descriptions: dict[str, str] = {}
        self.alerts: dict[str, dict[str, Any]] = {}
        self.activities: dict[str, list[dict[str, Any]]] = {}
        self.scripts: dict[str, dict[str, Any]] = {}
        self.technician = {"userId": self._id(), "name": "Tess Tech"}
        client_ids: list[str] = []
        for comp in data.companies:
            cid = self._id()
            client_ids.append(cid)
            self.clients[cid] = {
                "accountId": cid,
                "name": comp.name,
                "stage": "Active",
                "status": "Paid",
                "emailDomains": [comp.domain],
                "accountManager": self.technician,
                "primaryContact": None,
                "secondaryContact": None,
                "hqSite": {"id": self._id(), "name": "HQ"},
                "technicianGroups": None,
                "customFields": {},
            }
        user_ids: list[str] = []
        for person in data.contacts:
            uid = self._id()
            user_ids.append(uid)
            client = self.clients[client_ids[person.company]]
            self.users[uid] = {
                "userId": uid,
                "firstName": person.first,
                "lastName": person.last,
                "name": f"{person.first} {person.last}",
                "email": person.email,
                "contactNumber": person.phone,
                "reportingManager": None,
                "site": client["hqSite"],
                "role": {"roleId": "3", "name": "Requester"},
                "client": {"accountId": client["accountId"], "name": client["name"]},
                "customFields": {},
            }
        for dev in data.devices:
            aid = self._id()
            client = self.clients[client_ids[dev.company]]
            windows = dev.os.startswith("Windows")
            self.assets[aid] = {
                "assetId": aid,
                "name": dev.name,
                "assetClass": {
                    "classId": "1",
                    "name": "Server" if "Server" in dev.os else "Workstation",
                },
                "client": {"accountId": client["accountId"], "name": client["name"]},
                "site": client["hqSite"],
                "requester": None,
                "primaryMac": ":".join(f"{rng.randrange(256):02x}" for _ in range(6)),
                "loggedInUser": None,
                "serialNumber": f"SN{rng.getrandbits(32):08X}",
                "manufacturer": "Dell" if windows else "Apple",
                "model": "OptiPlex 7090",
                "hostName": dev.name.lower(),
                "publicIp": "203.0.113.10",
                "gateway": "10.0.0.1",
                "domain": "corp.local",
                "platform": dev.os,
                "platformFamily": "Windows" if windows else dev.os.split()[0],
                "platformCategory": "SERVER" if "Server" in dev.os else "WORKSTATION",
                "platformVersion": dev.os.split()[-1],
                "status": "ONLINE" if dev.online else "OFFLINE",
                "sysUptime": "86400",
                "lastCommunicatedTime": so_time(dev.last_seen, ms=False),
                "lastReportedTime": so_time(dev.last_seen, ms=False),
                "agentVersion": "2.15.0",
                "patchStatus": "Fully Patched",
                "warrantyExpiryDate": None,
                "purchasedDate": None,
                "customFields": {},
                "deviceCategory": "Desktop",
            }
            self.activities[aid] = []
        asset_ids = list(self.assets)
        for t in data.tickets:
            tid = self._id()
            client = self.clients[client_ids[t.company]]
            user = self.users[user_ids[t.contact]]
            self.tickets[tid] = self._ticket_record(
                tid,
                t.subject,
                client,
                user,
                STATUSES[t.status],
                PRIORITIES[t.priority],
                t.created,
                t.updated,
            )
            self.descriptions[tid] = t.description
            self.notes[tid] = []
        for i in range(max(3, len(asset_ids) // 2)):
            alert_id = self._id()
            asset = self.assets[asset_ids[i % len(asset_ids)]]
            created = datetime(2026, 1, 5, tzinfo=UTC) + timedelta(hours=i * 7)
            kind = (
                "Disk space below 10%",
                "CPU above 95% for 15 minutes",
                "Service Spooler stopped",
                "Antivirus definitions out of date",
            )[i % 4]
            self.alerts[alert_id] = {
                "id": alert_id,
                "message": f"{kind} on {asset['name']}",
                "createdTime": so_time(created, ms=False),
                "status": "Open",
                "severity": ("Critical", "High", "Medium", "Low")[i % 4],
                "description": kind,
                "policy": {"name": "Default workstation", "policyType": "MONITORING"},
                "asset": {
                    "assetId": asset["assetId"],
                    "name": asset["name"],
                    "client": asset["client"],
                    "site": asset["site"],
                    "owner": None,
                },
            }
        for name, language, succeeds in SCRIPTS:
            sid = self._id()
            self.scripts[sid] = {
                "scriptId": sid,
                "name": name,
                "description": name,
                "language": language,
                "addedBy": self.technician,
                "createdTime": "2025-06-01T09:00:00",
                "favourite": False,
                "runAs": "SYSTEM",
                "runTimeVariables": [],
                "timeOut": 300,
                "tags": [],
                "readMe": None,
                "_succeeds": succeeds,
            }

    def _tickets_by_update(self) -> list[dict[str, Any]]:
        """Tickets in (updatedTime, ticketId) order, re-sorted only after a write."""
        stamp = (len(self.tickets), self.ticket_writes)
        if self._sorted_stamp != stamp:
            self._sorted = sorted(self.tickets.values(), key=lambda t: (t["updatedTime"], t["ticketId"]))
            self._sorted_stamp = stamp
        return self._sorted

    def _id(self) -> str:
        self._next += 1
        return str(self._next)

    def _ticket_record(
        self,
        tid: str,
        subject: str,
        client: dict[str, Any],
        user: dict[str, Any] | None,
        status: str,
        priority: str,
        created: datetime,
        updated: datetime,
    ) -> dict[str, Any]:
        return {
            "ticketId": tid,
            "displayId": f"{created:%m%d%y}-{len(self.tickets) + 1:04d}",
            "subject": subject,
            "ticketType": "INCIDENT",
            "requestType": "Incident",
            "source": "EMAIL",
            "client": {"accountId": client["accountId"], "name": client["name"]},
            "site": client["hqSite"],
            "requester": {"userId": user["userId"], "name": user["name"]} if user else None,
            "additionalRequester": None,
            "followers": None,
            "techGroup": {"groupId": "1", "name": "Service Desk"},
            "technician": self.technician,
            "status": status,
            "priority": priority,
            "impact": "Low",
            "urgency": "Low",
            "category": None,
            "subcategory": None,
            "cause": None,
            "subcause": None,
            "resolutionCode": None,
            "sla": None,
            "createdTime": so_time(created, ms=False),
            "updatedTime": so_time(updated),
            "firstResponseDueTime": None,
            "firstResponseTime": None,
            "firstResponseViolated": False,
            "resolutionDueTime": None,
            "resolutionTime": None,
            "resolutionViolated": False,
            "customFields": {},
            "worklogTimespent": "0",
        }

    # --- HTTP surface -----------------------------------------------------------------

    def _auth_problem(self, request: Request) -> Response | None:
        header = request.headers.get("authorization", "")
        token = header[7:] if header.lower().startswith("bearer ") else None
        if token not in (self.api_token, self.limited_token):
            return JSONResponse({"message": "The API token used is invalid or deleted."}, 401)
        if request.headers.get("customersubdomain") != self.subdomain:
            return JSONResponse({"message": "Invalid subdomain"}, 400)
        return None

    def add_vendor_routes(self, app: FastAPI) -> None:
        """``POST /msp`` (and ``/it``): the GraphQL endpoint."""

        async def endpoint(request: Request) -> Response:
            problem = self._auth_problem(request)
            if problem is not None:
                return problem
            limited = request.headers["authorization"][7:] == self.limited_token
            try:
                payload = await request.json()
            except ClientDisconnect:
                return Response(status_code=499)  # the client gave up (timeout fault)
            except ValueError:
                return JSONResponse({"errors": [{"message": "Invalid JSON body"}]}, 400)
            if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
                return JSONResponse({"errors": [{"message": "Must provide query string."}]}, 400)
            with self.lock:
                result = await graphql.graphql(
                    SCHEMA,
                    payload["query"],
                    root_value=self._resolvers(limited),
                    variable_values=payload.get("variables"),
                    operation_name=payload.get("operationName"),
                )
            body: dict[str, Any] = {"data": result.data}
            if result.errors:
                body["errors"] = [e.formatted for e in result.errors]
            text = json.dumps(body)
            if self.faults.take("malformed") and "List" in payload["query"]:
                text = text[: max(10, len(text) // 2)]
            return Response(text, media_type="application/json")

        app.add_api_route("/msp", endpoint, methods=["POST"])
        app.add_api_route("/it", endpoint, methods=["POST"])

    def throttle_response(self) -> Response:
        """SuperOps throttles with HTTP 200 and ``rate_limit_exceeded``."""
        return JSONResponse(
            {
                "data": None,
                "errors": [
                    {
                        "message": "Rate limit exceeded",
                        "extensions": {"clientError": [{"code": "rate_limit_exceeded", "param": None}]},
                    }
                ],
            }
        )

    def server_error_response(self) -> Response:
        """A bare 500 (SuperOps documents no body for it)."""
        return JSONResponse({"message": "Internal Server Error"}, 500)

    # --- resolvers --------------------------------------------------------------------

    def _resolvers(self, limited: bool) -> dict[str, Any]:
        def guard(fn: Any) -> Any:
            def wrapped(info: Any, **kw: Any) -> Any:
                if limited:
                    raise client_error("forbidden", "You do not have permission to access this resource")
                return fn(**kw)

            return wrapped

        resolvers = {
            "getTicket": lambda input: self._ticket(input["ticketId"]),
            "getTicketList": lambda input: list_page(
                self._tickets_by_update(), input, "tickets", ("updatedTime", "ticketId")
            ),
            "getTicketNoteList": lambda input: [
                self._public(n) for n in self.notes[self._ticket(input["ticketId"])["ticketId"]]
            ],
            "getTicketConversationList": lambda input: self._conversations(input["ticketId"]),
            "getStatusList": lambda: [{"id": str(i + 1), "name": s, "description": s} for i, s in enumerate(STATUSES)],
            "getPriorityList": lambda: [
                {"id": str(i + 1), "name": p, "colorCode": "#888888"} for i, p in enumerate(PRIORITIES)
            ],
            "getClient": lambda input: self._get(self.clients, input["accountId"], "client"),
            "getClientList": lambda input: list_page(list(self.clients.values()), input, "clients"),
            "getClientUserList": lambda input: list_page(
                [
                    u
                    for u in self.users.values()
                    if u["client"]["accountId"]
                    == str((input.get("client") or {}).get("accountId", u["client"]["accountId"]))
                ],
                input.get("listInfo"),
                "userList",
            ),
            "getAsset": lambda input: self._get(self.assets, input["assetId"], "asset"),
            "getAssetList": lambda input: list_page(list(self.assets.values()), input, "assets"),
            "getAssetActivity": lambda input: list_page(
                [
                    self._activity_view(a)
                    for a in self.activities.get(self._get(self.assets, input["assetId"], "asset")["assetId"], [])
                ],
                input.get("listInfo"),
                "activities",
            ),
            "getAlertList": lambda input: list_page(list(self.alerts.values()), input, "alerts"),
            "getScriptList": lambda input: list_page(
                [self._public(s) for s in self.scripts.values()], input, "scripts"
            ),
            "createTicket": self._create_ticket,
            "updateTicket": self._update_ticket,
            "createTicketNote": self._create_note,
            "resolveAlerts": self._resolve_alerts,
            "runScriptOnAsset": self._run_script,
        }
        return {name: guard(fn) for name, fn in resolvers.items()}

    @staticmethod
    def _public(record: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in record.items() if not k.startswith("_")}

    @staticmethod
    def _get(table: dict[str, dict[str, Any]], key: str, kind: str) -> dict[str, Any]:
        found = table.get(str(key))
        if found is None:
            raise client_error("entity_does_not_exist", f"{kind} does not exist", id=key)
        return found

    def _ticket(self, ticket_id: str) -> dict[str, Any]:
        return self._get(self.tickets, ticket_id, "ticket")

    def _conversations(self, ticket_id: str) -> list[dict[str, Any]]:
        ticket = self._ticket(ticket_id)
        return [
            {
                "conversationId": f"{ticket['ticketId']}01",
                "content": self.descriptions.get(ticket["ticketId"], ""),
                "time": ticket["createdTime"],
                "user": ticket["requester"],
                "toUsers": [],
                "ccUsers": [],
                "bccUsers": [],
                "attachments": [],
                "type": "DESCRIPTION",
            }
        ]

    def _check_lookup(self, field: str, value: str | None, allowed: tuple[str, ...]) -> None:
        if value is not None and value not in allowed:
            raise client_error("referred_value_does_not_exist", f"{field} '{value}' does not exist", field=field)

    def _create_ticket(self, input: dict[str, Any]) -> dict[str, Any]:
        client = self._get(self.clients, (input.get("client") or {}).get("accountId", ""), "client")
        self._check_lookup("status", input.get("status"), STATUSES)
        self._check_lookup("priority", input.get("priority"), PRIORITIES)
        user = self.users.get(str((input.get("requester") or {}).get("userId")))
        now = self.clock.now()
        tid = self._id()
        self.tickets[tid] = self._ticket_record(
            tid,
            input["subject"],
            client,
            user,
            input.get("status") or "New",
            input.get("priority") or "Medium",
            now,
            now,
        )
        self.tickets[tid]["source"] = input["source"]
        self.descriptions[tid] = input.get("description") or ""
        self.notes[tid] = []
        return self.tickets[tid]

    def _update_ticket(self, input: dict[str, Any]) -> dict[str, Any]:
        ticket = self._ticket(input["ticketId"])
        self._check_lookup("status", input.get("status"), STATUSES)
        self._check_lookup("priority", input.get("priority"), PRIORITIES)
        for key in (
            "subject",
            "status",
            "priority",
            "impact",
            "urgency",
            "category",
            "subcategory",
            "resolutionCode",
        ):
            if input.get(key) is not None:
                ticket[key] = input[key]
        for key in ("technician", "techGroup", "requester", "site", "customFields"):
            if input.get(key) is not None:
                ticket[key] = input[key]
        ticket["updatedTime"] = so_time(self.clock.now())
        self.ticket_writes += 1
        return ticket

    def _create_note(self, input: dict[str, Any]) -> dict[str, Any]:
        ticket = self._ticket(input["ticket"]["ticketId"])
        privacy = input.get("privacyType") or "PRIVATE"
        if privacy not in ("PUBLIC", "PRIVATE"):
            raise client_error(
                "type_validation_failed",
                "privacyType must be PUBLIC or PRIVATE",
                field="privacyType",
            )
        now = self.clock.now()
        note = {
            "noteId": self._id(),
            "addedBy": input.get("addedBy") or self.technician,
            "addedOn": so_time(now),
            "content": input["content"],
            "attachments": input.get("attachments") or [],
            "privacyType": privacy,
        }
        self.notes[ticket["ticketId"]].append(note)
        ticket["updatedTime"] = so_time(now)
        self.ticket_writes += 1
        return note

    def _resolve_alerts(self, input: list[dict[str, Any]]) -> bool:
        for item in input:
            self._get(self.alerts, item["id"], "alert")["status"] = "Resolved"
        return True

    def _run_script(self, input: dict[str, Any]) -> dict[str, Any]:
        asset = self._get(self.assets, input["assetId"], "asset")
        script = self._get(self.scripts, input["scriptId"], "script")
        args = input.get("scriptArguments") or []
        action = self._id()
        self.activities[asset["assetId"]].insert(
            0,
            {
                "activityId": self._id(),
                "createdTime": so_time(self.clock.now()),
                "activityType": "SCRIPT_EXECUTION",
                "_started": self.clock.now(),
                "_script": script,
                "_args": args,
                "activityData": {
                    "actionConfigId": action,
                    "scriptId": script["scriptId"],
                    "scriptName": script["name"],
                },
            },
        )
        return {
            "actionConfigId": action,
            "script": {"scriptId": script["scriptId"], "name": script["name"]},
            "scriptArguments": args,
            "addedBy": self.technician,
        }

    def _activity_view(self, activity: dict[str, Any]) -> dict[str, Any]:
        """Script activities finish ``SCRIPT_SECONDS`` after they start (~ shape, see spec)."""
        data = dict(activity["activityData"])
        done = datetime.now(UTC) - activity["_started"] >= timedelta(seconds=SCRIPT_SECONDS)
        script = activity["_script"]
        if not done:
            data.update(status="RUNNING")
        elif script["_succeeds"]:
            args = ", ".join(f"{a['name']}={a.get('value')}" for a in activity["_args"])
            data.update(
                status="SUCCESS",
                exitCode=0,
                output=f"{script['name']} completed{f' ({args})' if args else ''}",
            )
        else:
            data.update(status="FAILED", exitCode=1, output="Service failed to start")
        return {**self._public(activity), "activityData": data}

    # --- admin (``/_sim``) --------------------------------------------------------------

    def admin_create_ticket(self, change: TicketChange) -> dict[str, Any]:
        """Create a ticket as a technician would in the SuperOps UI."""
        client_id = change.company or next(iter(self.clients))
        return self._create_ticket(
            {
                "subject": change.subject or "Simulated ticket",
                "client": {"accountId": client_id},
                "source": "AGENT",
                "status": change.status,
                "priority": change.priority,
            }
        )

    def admin_update_ticket(self, ticket_id: str, change: TicketChange) -> dict[str, Any]:
        """Edit a ticket as a technician would (bumps ``updatedTime``)."""
        try:
            return self._update_ticket(
                {"ticketId": ticket_id, **change.model_dump(exclude_none=True, exclude={"company"})}
            )
        except graphql.GraphQLError as exc:
            raise HTTPException(422 if "does not exist" in exc.message else 404, exc.message) from exc

    def admin_ticket(self, ticket_id: str) -> dict[str, Any]:
        """The stored ticket."""
        if ticket_id not in self.tickets:
            raise HTTPException(404, "no such ticket")
        return self.tickets[ticket_id]

    def admin_notes(self, ticket_id: str) -> list[dict[str, Any]]:
        """The stored notes of a ticket."""
        if ticket_id not in self.notes:
            raise HTTPException(404, "no such ticket")
        return self.notes[ticket_id]

    def summary(self) -> dict[str, Any]:
        """Counts and the credentials to connect with."""
        return {
            "vendor": self.name,
            "tickets": len(self.tickets),
            "clients": len(self.clients),
            "contacts": len(self.users),
            "devices": len(self.assets),
            "alerts": len(self.alerts),
            "scripts": len(self.scripts),
            "credentials": {
                "api_url": "<base>/msp",
                "subdomain": self.subdomain,
                "api_token": self.api_token,
                "limited_api_token": self.limited_token,
            },
        }

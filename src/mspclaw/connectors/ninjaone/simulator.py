"""NinjaOne simulator: OAuth2 token endpoint (client credentials and refresh token),
``/v2`` organizations, devices (``after`` cursor, ``df`` filters), alerts and reset,
scripting options and runs (204, results as device activities), and the one-per-app
webhook (``PUT /v2/webhook``) delivering activity records with the configured headers.
"""

from __future__ import annotations

import json
import random
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ClassVar

from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.responses import JSONResponse

from mspclaw.connectors.simulator import Simulator, TicketChange, make_seed

NODE_CLASSES = {
    "Windows 11 Pro": "WINDOWS_WORKSTATION",
    "Windows 10 Pro": "WINDOWS_WORKSTATION",
    "Windows Server 2022": "WINDOWS_SERVER",
    "macOS 14": "MAC",
    "Ubuntu 22.04": "LINUX_WORKSTATION",
}
SCRIPTS = (
    ("Flush DNS cache", "powershell", True),
    ("Restart print spooler", "powershell", True),
    ("Collect disk usage", "shellscript", True),
    ("Repair WMI", "powershell", False),
)
SCRIPT_SECONDS = 0.3
#: a programmed script's result: (device id, parameter line) -> (output, exit code)
ScriptResult = Callable[[int, str], tuple[str, int]]
WEBHOOK_HEADER = "X-MSPclaw-Webhook-Secret"


def epoch(dt: datetime) -> float:
    """NinjaOne times are epoch seconds (with a fraction)."""
    return round(dt.timestamp(), 3)


def _ninja_error(status: int, message: str, code: str | None = None) -> JSONResponse:
    # ? The reference documents no error body; this mirrors the common {error, ...} shape.
    return JSONResponse({"error": code or "error", "errorMessage": message, "resultCode": code or "FAILURE"}, status)


class NinjaOneSimulator(Simulator):
    """An in-memory NinjaOne tenant behind the public API v2 shape."""

    name: ClassVar[str] = "ninjaone"
    fault_exempt: ClassVar[tuple[str, ...]] = ("/oauth/",)

    def reset(self, seed: str) -> None:
        """Organizations, devices, alerts and scripts from the seed; fresh OAuth clients."""
        rng = random.Random(f"ninjaone:{seed}")
        data = make_seed(seed, tickets=0)
        self.client_id = f"cid-{rng.getrandbits(64):016x}"
        self.client_secret = f"csec-{rng.getrandbits(128):032x}"
        self.monitoring_client_id = f"mon-{rng.getrandbits(64):016x}"
        self.refresh_token = f"rt-{rng.getrandbits(96):024x}"
        self.webhook_secret = f"whs-{rng.getrandbits(96):024x}"
        self.tokens: dict[str, dict[str, Any]] = {}
        self.webhook: dict[str, Any] | None = None
        self.organizations: dict[int, dict[str, Any]] = {}
        self.devices: dict[int, dict[str, Any]] = {}
        self.alerts: dict[str, dict[str, Any]] = {}
        self.activities: dict[int, list[dict[str, Any]]] = {}
        self._activity_id = 90_000
        for comp in data.companies:
            oid = comp.index + 1
            self.organizations[oid] = {
                "id": oid,
                "name": comp.name,
                "description": comp.domain,
                "nodeApprovalMode": "AUTOMATIC",
                "tags": [],
                "fields": {},
            }
        for dev in data.devices:
            did = 100 + dev.index
            self.devices[did] = {
                "id": did,
                "parentDeviceId": None,
                "organizationId": dev.company + 1,
                "locationId": dev.company + 1,
                "nodeClass": NODE_CLASSES[dev.os],
                "nodeRoleId": 1,
                "rolePolicyId": 1,
                "approvalStatus": "APPROVED",
                "offline": not dev.online,
                "displayName": dev.name,
                "systemName": dev.name,
                "dnsName": f"{dev.name.lower()}.corp.local",
                "created": epoch(datetime(2025, 6, 1, tzinfo=UTC)),
                "lastContact": epoch(dev.last_seen),
                "lastUpdate": epoch(dev.last_seen),
                "os": {"name": dev.os},
            }
            self.activities[did] = []
        for i, did in enumerate(list(self.devices)[: max(3, len(self.devices) // 2)]):
            uid = f"{rng.getrandbits(128):032x}"
            created = datetime(2026, 1, 5, tzinfo=UTC).timestamp() + i * 3600 * 7
            subject = (
                "Disk C: below 10% free",
                "CPU above 95% for 15 minutes",
                "Service Spooler stopped",
                "Device offline for 30 minutes",
            )[i % 4]
            self.alerts[uid] = {
                "uid": uid,
                "deviceId": did,
                "message": subject,
                "subject": subject,
                "createTime": round(created, 3),
                "updateTime": round(created, 3),
                "sourceType": "CONDITION_CUSTOM_FIELD" if i % 2 else "CONDITION",
                "sourceConfigUid": f"{rng.getrandbits(64):016x}",
                "severity": ("CRITICAL", "MAJOR", "MODERATE", "MINOR")[i % 4],
                "priority": "HIGH",
                "psaTicketId": None,
                "_reset": False,
            }
        self.scripts: list[dict[str, Any]] = [
            {"type": "SCRIPT", "id": 10 + i, "name": name, "language": lang, "_succeeds": ok}
            for i, (name, lang, ok) in enumerate(SCRIPTS)
        ] + [{"type": "ACTION", "uid": "b4c5f9d2-reboot", "name": "Reboot", "_succeeds": True}]

    # --- auth ---------------------------------------------------------------------------

    def _issue(self, context: str, scope: str) -> dict[str, Any]:
        token = secrets.token_urlsafe(24)
        self.tokens[token] = {
            "context": context,
            "scope": set(scope.split()),
            "expires": time.monotonic() + 3600,
        }
        return {"access_token": token, "token_type": "bearer", "expires_in": 3600, "scope": scope}

    def _caller(self, request: Request) -> dict[str, Any] | JSONResponse:
        header = request.headers.get("authorization", "")
        token = self.tokens.get(header[7:]) if header.lower().startswith("bearer ") else None
        if token is None or token["expires"] < time.monotonic():
            return JSONResponse({"error": "invalid_token", "error_description": "Access token is invalid"}, 401)
        return token

    def _need(self, request: Request, scope: str) -> JSONResponse | None:
        caller = self._caller(request)
        if isinstance(caller, JSONResponse):
            return caller
        if scope not in caller["scope"]:
            return _ninja_error(403, f"Token lacks the '{scope}' scope", "FORBIDDEN")
        request.state.context = caller["context"]
        return None

    # --- routes -------------------------------------------------------------------------

    def throttle_response(self) -> Response:
        """429 (no numeric limit is published; no Retry-After documented)."""
        return _ninja_error(429, "Too many requests", "TOO_MANY_REQUESTS")

    def server_error_response(self) -> Response:
        """A 500."""
        return _ninja_error(500, "Internal server error", "SERVER_ERROR")

    def _json(self, payload: Any, *, listing: bool = False) -> Response:
        body = json.dumps(payload)
        if listing and self.faults.take("malformed"):
            body = body[: max(5, len(body) // 2)]
        return Response(body, media_type="application/json")

    @staticmethod
    def _after(rows: list[dict[str, Any]], request: Request) -> list[dict[str, Any]]:
        after = int(request.query_params.get("after") or 0)
        size = int(request.query_params.get("pageSize") or 1000)
        return sorted((r for r in rows if r["id"] > after), key=lambda r: r["id"])[:size]

    def add_vendor_routes(self, app: FastAPI) -> None:
        """Register the OAuth and ``/v2`` routes."""

        @app.post("/oauth/token")
        async def token(request: Request) -> Response:
            form = await request.form()
            grant = form.get("grant_type")
            cid, csecret = form.get("client_id"), form.get("client_secret")
            if cid not in (self.client_id, self.monitoring_client_id) or csecret != self.client_secret:
                return JSONResponse({"error": "invalid_client"}, 401)
            asked = str(form.get("scope") or "monitoring")
            allowed = (
                {"monitoring"}
                if cid == self.monitoring_client_id
                else {"monitoring", "management", "control", "offline_access"}
            )
            scope = " ".join(s for s in asked.split() if s in allowed) or "monitoring"
            if grant == "client_credentials":
                return JSONResponse(self._issue("client_credentials", scope))
            if grant == "refresh_token":
                if form.get("refresh_token") != self.refresh_token:
                    return JSONResponse({"error": "invalid_grant"}, 400)
                return JSONResponse({**self._issue("user", scope), "refresh_token": self.refresh_token})
            return JSONResponse({"error": "unsupported_grant_type"}, 400)

        @app.get("/v2/organizations")
        async def organizations(request: Request) -> Response:
            if (problem := self._need(request, "monitoring")) is not None:
                return problem
            return self._json(self._after(list(self.organizations.values()), request), listing=True)

        @app.get("/v2/organization/{oid}")
        async def organization(oid: int, request: Request) -> Response:
            if (problem := self._need(request, "monitoring")) is not None:
                return problem
            if oid not in self.organizations:
                return _ninja_error(404, "Organization not found", "NOT_FOUND")
            return self._json(self.organizations[oid])

        @app.get("/v2/devices")
        async def devices(request: Request) -> Response:
            if (problem := self._need(request, "monitoring")) is not None:
                return problem
            rows = [self._device_view(d) for d in self.devices.values()]
            df = request.query_params.get("df")
            if df:
                rows = [r for r in rows if self._df(r, df)]
            return self._json(self._after(rows, request), listing=True)

        @app.get("/v2/device/{did}")
        async def device(did: int, request: Request) -> Response:
            if (problem := self._need(request, "monitoring")) is not None:
                return problem
            if did not in self.devices:
                return _ninja_error(404, "Device not found", "NOT_FOUND")
            return self._json(self.devices[did])

        @app.get("/v2/alerts")
        async def alerts(request: Request) -> Response:
            if (problem := self._need(request, "monitoring")) is not None:
                return problem
            source = request.query_params.get("sourceType")
            rows = [
                self._public(a)
                for a in self.alerts.values()
                if not a["_reset"] and (not source or a["sourceType"] == source)
            ]
            return self._json(rows, listing=True)

        @app.get("/v2/device/{did}/alerts")
        async def device_alerts(did: int, request: Request) -> Response:
            if (problem := self._need(request, "monitoring")) is not None:
                return problem
            return self._json(
                [self._public(a) for a in self.alerts.values() if a["deviceId"] == did and not a["_reset"]]
            )

        async def reset_alert(uid: str, request: Request) -> Response:
            if (problem := self._need(request, "management")) is not None:
                return problem
            alert = self.alerts.get(uid)
            if alert is None or alert["_reset"]:
                return _ninja_error(404, "Alert not found", "NOT_FOUND")
            alert["_reset"] = True
            self._activity(alert["deviceId"], "CONDITION", "RESET", alert["subject"])
            return Response(status_code=204)

        app.add_api_route("/v2/alert/{uid}", reset_alert, methods=["DELETE"])
        app.add_api_route("/v2/alert/{uid}/reset", reset_alert, methods=["POST"])

        @app.get("/v2/device/{did}/scripting/options")
        async def scripting_options(did: int, request: Request) -> Response:
            if (problem := self._need(request, "management")) is not None:
                return problem
            if did not in self.devices:
                return _ninja_error(404, "Device not found", "NOT_FOUND")
            return self._json(
                {
                    "categories": [{"id": 1, "name": "Maintenance"}],
                    "scripts": [self._public(s) for s in self.scripts],
                }
            )

        @app.post("/v2/device/{did}/script/run", status_code=204)
        async def run_script(did: int, request: Request) -> Response:
            if (problem := self._need(request, "control")) is not None:
                return problem
            if request.state.context != "user":
                # Unconfirmed wire answer: the reference only says client_credentials tokens
                # are refused for script runs (the PowerShell module refuses client-side).
                return _ninja_error(
                    403,
                    "Script execution is not available when using client_credentials authentication",
                    "FORBIDDEN",
                )
            if did not in self.devices:
                return _ninja_error(404, "Device not found", "NOT_FOUND")
            body = await request.json()
            script = next(
                (
                    s
                    for s in self.scripts
                    if (body.get("type") == "SCRIPT" and s.get("id") == body.get("id"))
                    or (body.get("type") == "ACTION" and s.get("uid") == body.get("uid"))
                ),
                None,
            )
            if script is None:
                return _ninja_error(400, "Unknown script or action", "INVALID_REQUEST")
            activity = self._activity(did, "ACTION", "START_REQUESTED", script["name"])
            activity.update(_script=script, _params=body.get("parameters") or "", _started=time.monotonic())
            return Response(status_code=204)

        @app.get("/v2/device/{did}/activities")
        async def device_activities(did: int, request: Request) -> Response:
            if (problem := self._need(request, "monitoring")) is not None:
                return problem
            if did not in self.devices:
                return _ninja_error(404, "Device not found", "NOT_FOUND")
            rows = [self._activity_view(a) for a in reversed(self.activities[did])]
            size = int(request.query_params.get("pageSize") or 200)
            return self._json({"lastActivityId": rows[0]["id"] if rows else None, "activities": rows[:size]})

        @app.put("/v2/webhook", status_code=204)
        async def put_webhook(request: Request) -> Response:
            if (problem := self._need(request, "management")) is not None:
                return problem
            body = await request.json()
            if not body.get("url"):
                return _ninja_error(400, "url is required", "INVALID_REQUEST")
            self.webhook = body
            return Response(status_code=204)

        @app.delete("/v2/webhook", status_code=204)
        async def delete_webhook(request: Request) -> Response:
            if (problem := self._need(request, "management")) is not None:
                return problem
            self.webhook = None
            return Response(status_code=204)

    # --- state helpers ------------------------------------------------------------------

    @staticmethod
    def _public(record: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in record.items() if not k.startswith("_")}

    @staticmethod
    def _device_view(device: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in device.items() if k != "os"}

    @staticmethod
    def _df(row: dict[str, Any], df: str) -> bool:
        """A small subset of device filters: ``org = N``, ``class in (...)``, ``online``."""
        for clause in (c.strip() for c in df.split(" AND ")):
            words = clause.split(None, 2)
            if clause == "online":
                ok = not row["offline"]
            elif clause == "offline":
                ok = row["offline"]
            elif len(words) == 3 and words[0] == "org" and words[1] == "=":
                ok = row["organizationId"] == int(words[2])
            elif len(words) == 3 and words[0] == "class" and words[1] == "in":
                ok = row["nodeClass"] in words[2].strip("()").replace(" ", "").split(",")
            elif len(words) == 3 and words[0] == "class" and words[1] == "eq":
                ok = row["nodeClass"] == words[2]
            elif len(words) == 3 and words[0] == "status" and words[1] == "eq":
                ok = row["approvalStatus"] == words[2]
            else:
                raise HTTPException(400, f"unsupported df clause {clause!r}")
            if not ok:
                return False
        return True

    def _activity(self, did: int, kind: str, status_code: str, subject: str) -> dict[str, Any]:
        self._activity_id += 1
        activity = {
            "id": self._activity_id,
            "activityTime": epoch(self.clock.now()),
            "deviceId": did,
            "severity": "NONE",
            "priority": "NONE",
            "seriesUid": None,
            "activityType": kind,
            "statusCode": status_code,
            "status": status_code,
            "activityResult": "UNKNOWN",
            "sourceConfigUid": None,
            "sourceName": subject,
            "subject": subject,
            "message": subject,
            "type": kind,
            "data": {},
        }
        self.activities[did].append(activity)
        if self.webhook:
            self._send(activity)
        return activity

    def _send(self, activity: dict[str, Any]) -> None:
        assert self.webhook is not None
        headers = {
            "Content-Type": "application/json",
            **{h["name"]: h["value"] for h in self.webhook.get("headers") or []},
        }
        self.deliver(self.webhook["url"], headers, json.dumps(self._activity_view(activity)).encode())

    def _activity_view(self, activity: dict[str, Any]) -> dict[str, Any]:
        """Script activities complete ``SCRIPT_SECONDS`` after they start (? shape)."""
        view = self._public(activity)
        script = activity.get("_script")
        if script is not None and time.monotonic() - activity["_started"] >= SCRIPT_SECONDS:
            ok = script["_succeeds"]
            params = f" ({activity['_params']})" if activity["_params"] else ""
            output = f"{script['name']} completed{params}" if ok else "WMI repository is corrupt"
            exit_code = 0 if ok else 1
            if script.get("_result") is not None:  # programmed by a test: computed once per run
                if "_outcome" not in activity:
                    activity["_outcome"] = script["_result"](activity["deviceId"], activity["_params"])
                output, exit_code = activity["_outcome"]
                ok = exit_code == 0
            view.update(
                statusCode="COMPLETED",
                status="COMPLETED",
                activityResult="SUCCESS" if ok else "FAILURE",
                message=f"{script['name']} {'succeeded' if ok else 'failed'}",
                data={
                    "message": {
                        "params": {
                            "script_name": script["name"],
                            "script_result_message": output,
                            "script_exit_code": exit_code,
                        }
                    }
                },
            )
        return view

    # --- admin --------------------------------------------------------------------------

    def program_script(self, name: str, result: ScriptResult, *, language: str = "powershell") -> dict[str, Any]:
        """Add a script whose runs end with ``result(device_id, parameters)`` (output, exit code)."""
        script = {
            "type": "SCRIPT",
            "id": 10 + len(self.scripts),
            "name": name,
            "language": language,
            "_succeeds": True,
            "_result": result,
        }
        self.scripts.append(script)
        return script

    def webhook_sample(self, ticket_id: str, action: str) -> tuple[dict[str, str], bytes]:
        """A genuine activity delivery for a device (``ticket_id`` names the device)."""
        did = int(ticket_id)
        if did not in self.devices:
            raise HTTPException(404, "no such device")
        self._activity_id += 1
        activity = {
            "id": self._activity_id,
            "activityTime": epoch(self.clock.now()),
            "deviceId": did,
            "severity": "MAJOR",
            "priority": "HIGH",
            "activityType": "CONDITION",
            "statusCode": "TRIGGERED",
            "status": "TRIGGERED",
            "sourceName": "Disk space",
            "subject": "Disk C: below 10% free",
            "message": "Disk C: below 10% free",
            "type": "CONDITION",
            "data": {"action": action},
        }
        headers = {h["name"]: h["value"] for h in (self.webhook or {}).get("headers") or []}
        return (
            {
                "Content-Type": "application/json",
                **(headers or {WEBHOOK_HEADER: self.webhook_secret}),
            },
            json.dumps(activity).encode(),
        )

    def admin_create_ticket(self, change: TicketChange) -> dict[str, Any]:
        """NinjaOne tickets are not simulated (the connector syncs it as an RMM)."""
        raise HTTPException(404, "the NinjaOne simulator does not simulate ticketing")

    admin_update_ticket = admin_create_ticket  # type: ignore[assignment]

    def admin_ticket(self, ticket_id: str) -> dict[str, Any]:
        """Not simulated."""
        raise HTTPException(404, "the NinjaOne simulator does not simulate ticketing")

    admin_notes = admin_ticket  # type: ignore[assignment]

    def summary(self) -> dict[str, Any]:
        """Counts and the credentials to connect with."""
        return {
            "vendor": self.name,
            "tickets": 0,
            "clients": len(self.organizations),
            "contacts": 0,
            "devices": len(self.devices),
            "alerts": sum(not a["_reset"] for a in self.alerts.values()),
            "webhook": bool(self.webhook),
            "credentials": {
                "base_url": "<base>",
                "client_id": self.client_id,
                "client_secret": self.client_secret,
                "refresh_token": self.refresh_token,
                "monitoring_only_client_id": self.monitoring_client_id,
                "webhook_secret": self.webhook_secret,
            },
        }

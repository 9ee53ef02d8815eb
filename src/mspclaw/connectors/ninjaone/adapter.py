"""NinjaOne adapter: organizations, devices, alerts (reset), script runs tracked through
device activities, and the shared-secret webhook, over API v2 with OAuth2.
"""

from __future__ import annotations

import hmac
import json
import shlex
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

from mspclaw.connectors.base import Connector, ReplayGuard
from mspclaw.connectors.errors import MissingPermission, NotFound, VendorError, WebhookRejected
from mspclaw.connectors.http import OAuth2ClientCredentials, ResilientClient
from mspclaw.connectors.models import (
    Alert,
    Client,
    Contact,
    Device,
    ScriptJob,
    ScriptJobStatus,
    WebhookEvent,
    parse_vendor_time,
)

WEBHOOK_HEADER = "X-MSPclaw-Webhook-Secret"
NODE_OS = {
    "WINDOWS_WORKSTATION": "Windows",
    "WINDOWS_SERVER": "Windows Server",
    "MAC": "macOS",
    "MAC_SERVER": "macOS Server",
    "LINUX_WORKSTATION": "Linux",
    "LINUX_SERVER": "Linux Server",
}


class NinjaOneConnector(Connector):
    """The NinjaOne public API v2 as an MSPclaw RMM connector."""

    spec_file: ClassVar[Path] = Path(__file__).with_name("spec.yaml")
    simulator: ClassVar[str | None] = "mspclaw.connectors.ninjaone.simulator:NinjaOneSimulator"
    page_size: ClassVar[int] = 200
    webhook_max_age: ClassVar[timedelta] = timedelta(minutes=15)

    def build_http(self) -> ResilientClient:
        """OAuth2: refresh-token grant when configured (user context), else client credentials."""
        base = self.config["base_url"].rstrip("/")
        self.scope = self.config.get("scope") or "monitoring management control"
        self.oauth = OAuth2ClientCredentials(
            f"{base}/oauth/token",
            self.config["client_id"],
            self.config["client_secret"],
            self.scope,
            refresh_token=self.config.get("refresh_token"),
        )
        http = self.client(base, headers={"Accept": "application/json"}, auth=self.oauth)
        self.oauth.redactor = http.redactor  # issued tokens are redacted like configured ones
        return http

    async def probe(self) -> None:
        """Fetch a token and one organization; report scopes the application lacks."""
        await self.http.request_json("GET", "/v2/organizations", params={"pageSize": 1})
        granted = set(self.oauth.granted_scope.split())
        missing = [s for s in self.scope.split() if s not in granted]
        if missing:
            raise MissingPermission(
                f"the API application is not allowed the scopes {', '.join(missing)} "
                "(Administration › Apps › API › client app: allowed scopes)"
            )

    async def _after_pages(self, path: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Every row of an ``after``-cursor list (id-ordered)."""
        rows: list[dict[str, Any]] = []
        after: int | None = None
        while True:
            query = {**(params or {}), "pageSize": self.page_size}
            if after is not None:
                query["after"] = after
            batch = await self.http.request_json("GET", path, params=query)
            if not isinstance(batch, list):
                raise VendorError(f"NinjaOne {path} did not return a list")
            rows.extend(batch)
            if len(batch) < self.page_size:
                return rows
            after = int(batch[-1]["id"])

    # --- directory and devices ----------------------------------------------------------

    async def list_clients(self) -> list[Client]:
        """Organizations."""
        return [
            Client(external_id=str(o["id"]), name=o.get("name") or "", raw=o)
            for o in await self._after_pages("/v2/organizations")
        ]

    async def list_contacts(self) -> list[Contact]:
        """NinjaOne's API subset has no contact directory: contacts come from the PSA."""
        return []

    def _device(self, d: dict[str, Any]) -> Device:
        offline = d.get("offline")
        os_name = (d.get("os") or {}).get("name") if isinstance(d.get("os"), dict) else None
        return Device(
            external_id=str(d["id"]),
            client_external_id=str(d.get("organizationId")) if d.get("organizationId") is not None else None,
            name=d.get("displayName") or d.get("systemName") or str(d["id"]),
            hostname=d.get("dnsName") or d.get("systemName"),
            os=os_name or NODE_OS.get(str(d.get("nodeClass")), d.get("nodeClass")),
            online=None if offline is None else not offline,
            # Field names and epoch-seconds type are unconfirmed (?); parse defensively.
            last_seen=parse_vendor_time(d.get("lastContact")),
            raw=d,
        )

    async def list_devices(self) -> list[Device]:
        """Every device (``after`` cursor)."""
        return [self._device(d) for d in await self._after_pages("/v2/devices")]

    async def get_device_status(self, external_id: str) -> Device:
        """One device's current state."""
        return self._device(await self.http.request_json("GET", f"/v2/device/{external_id}"))

    # --- alerts -------------------------------------------------------------------------

    def _alert(self, a: dict[str, Any]) -> Alert:
        return Alert(
            external_id=str(a["uid"]),
            device_external_id=str(a.get("deviceId")),
            message=a.get("message") or a.get("subject") or "",
            raw_severity=a.get("severity"),
            open=True,
            created_at=parse_vendor_time(a.get("createTime")),
            raw=a,
        )

    async def list_alerts(self, since: datetime | None) -> list[Alert]:
        """Active alerts, created after ``since`` (no server-side time filter exists)."""
        rows = await self.http.request_json("GET", "/v2/alerts")
        alerts = [self._alert(a) for a in rows or []]
        return [a for a in alerts if since is None or (a.created_at and a.created_at > since)]

    async def get_alert(self, external_id: str) -> Alert:
        """One active alert; a reset alert no longer exists in NinjaOne's API."""
        for alert in await self.list_alerts(None):
            if alert.external_id == external_id:
                return alert
        raise NotFound(f"NinjaOne has no active alert {external_id}")

    async def resolve_alert(self, external_id: str) -> None:
        """Reset the alert (``POST /v2/alert/{uid}/reset``)."""
        await self.http.request("POST", f"/v2/alert/{external_id}/reset", json={})

    # --- scripts ------------------------------------------------------------------------

    async def run_script(self, device: str, script: str, args: dict[str, str]) -> ScriptJob:
        """Run a script or built-in action (by id, uid or exact name) on a device.

        NinjaOne answers 204 without a job id, so the job remembers the device's newest
        activity id before the run and the script's name, and the result is the first
        matching ACTION activity after it.
        """
        if not self.oauth.refresh_token:
            raise MissingPermission(
                "NinjaOne refuses script runs for client-credentials tokens; add a refresh "
                "token from an authorization-code sign-in (scopes control + offline_access)"
            )
        options = await self.http.request_json("GET", f"/v2/device/{device}/scripting/options")
        chosen = next(
            (
                s
                for s in (options or {}).get("scripts") or []
                if script in (str(s.get("id")), str(s.get("uid")), s.get("name"))
            ),
            None,
        )
        if chosen is None:
            raise NotFound(f"script {script!r} is not available on NinjaOne device {device}")
        before = await self.http.request_json("GET", f"/v2/device/{device}/activities", params={"pageSize": 1})
        baseline = int((before or {}).get("lastActivityId") or 0)
        body: dict[str, Any] = {
            "type": chosen.get("type") or "SCRIPT",
            "runAs": "system",
            "parameters": " ".join(f"-{k} {shlex.quote(v)}" for k, v in args.items()),
        }
        if body["type"] == "ACTION":
            body["uid"] = chosen.get("uid")
        else:
            body["id"] = chosen.get("id")
        await self.http.request("POST", f"/v2/device/{device}/script/run", json=body)
        return ScriptJob(
            job_id=f"{device}:{baseline}:{chosen.get('id') or chosen.get('uid')}",
            device_external_id=device,
            script_id=str(chosen.get("id") or chosen.get("uid")),
            status="pending",
            started_at=datetime.now(UTC),
            raw={"baseline_activity_id": baseline, "script_name": chosen.get("name")},
        )

    async def get_script_result(self, job: ScriptJob) -> ScriptJob:
        """Match the run's ACTION activity; unknown result words read as still running.

        The activity fields used (activityResult, statusCode, data.message.params) are
        unconfirmed in the reference (?); several spellings are accepted.
        """
        page = await self.http.request_json(
            "GET", f"/v2/device/{job.device_external_id}/activities", params={"pageSize": 50}
        )
        baseline = int(job.raw.get("baseline_activity_id") or 0)
        name = job.raw.get("script_name")
        candidates = sorted(
            (
                a
                for a in (page or {}).get("activities") or []
                if int(a.get("id") or 0) > baseline
                and a.get("activityType") == "ACTION"
                and name in (a.get("sourceName"), a.get("subject"))
            ),
            key=lambda a: int(a["id"]),
        )
        if not candidates:
            return job
        activity = candidates[0]
        result = str(activity.get("activityResult") or "").upper()
        status: ScriptJobStatus = (
            "succeeded" if result == "SUCCESS" else "failed" if result in ("FAILURE", "FAILED") else "running"
        )
        params = ((activity.get("data") or {}).get("message") or {}).get("params") or {}
        exit_code = params.get("script_exit_code")
        return job.model_copy(
            update={
                "status": status,
                "output": params.get("script_result_message") or activity.get("message"),
                "exit_code": int(exit_code) if exit_code is not None else None,
                "finished_at": parse_vendor_time(activity.get("activityTime")) if status != "running" else None,
                "raw": {**job.raw, "activity": activity},
            }
        )

    # --- webhooks -----------------------------------------------------------------------

    async def register_webhook(self, url: str, secret: str) -> dict[str, Any]:
        """The application's one webhook, carrying ``secret`` in a custom header.

        Unconfirmed (?): which activity types/statuses to list; empty lists are sent to mean
        "all statuses" of the alert (CONDITION) and script (ACTION) types.
        """
        await self.http.request(
            "PUT",
            "/v2/webhook",
            json={
                "url": url,
                "activities": {"CONDITION": [], "ACTION": []},
                "expand": ["device"],
                "headers": [{"name": WEBHOOK_HEADER, "value": secret}],
            },
        )
        return {"url": url, "header": WEBHOOK_HEADER}

    async def verify_webhook(
        self, headers: Mapping[str, str], body: bytes, *, now: datetime, replay: ReplayGuard
    ) -> list[WebhookEvent]:
        """Shared-secret header (constant-time), activity age, and replay by activity id."""
        expected = self.config.get("webhook_secret")
        got = {k.lower(): v for k, v in headers.items()}.get(WEBHOOK_HEADER.lower())
        if not expected:
            raise WebhookRejected("no webhook secret is configured for this connection", reason="forged")
        if not got or not hmac.compare_digest(got.encode(), str(expected).encode()):
            raise WebhookRejected("missing or wrong webhook secret header", reason="forged")
        try:
            activity = json.loads(body)
            activity_id = activity["id"]
        except (ValueError, KeyError, TypeError) as exc:
            raise WebhookRejected("delivery is not a NinjaOne activity", reason="malformed") from exc
        occurred = parse_vendor_time(activity.get("activityTime"))
        if occurred is None or now - occurred > self.webhook_max_age:
            raise WebhookRejected("activity is older than the freshness window", reason="stale")
        if not await replay.first_time(f"ninjaone:{activity_id}", now):
            raise WebhookRejected("activity was already delivered", reason="replayed")
        return [
            WebhookEvent(
                event_key=str(activity_id),
                entity="device",
                action=f"{activity.get('activityType')}/{activity.get('statusCode')}".lower(),
                external_id=str(activity.get("deviceId")),
                occurred_at=occurred,
                raw=activity,
            )
        ]

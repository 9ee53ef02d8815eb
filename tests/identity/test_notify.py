"""The apprise notifier delivers to a real HTTP receiver; the wiring plugs the backend in."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI, Request

from mspclaw.config import Settings
from mspclaw.database.core import Database
from mspclaw.identity.notify import AppriseNotifier, DeliveryFailed
from mspclaw.identity.wiring import register
from mspclaw.tools import BackendRouter
from tests.identity.conftest import _Served


async def test_apprise_sends_codes_by_sms_and_email_templates() -> None:
    received: list[tuple[str, dict[str, Any]]] = []
    app = FastAPI()

    @app.post("/{path:path}")
    async def inbox(path: str, request: Request) -> dict[str, str]:
        received.append((path, await request.json()))
        return {}

    with _Served(app) as url:
        host = url.removeprefix("http://")
        notifier = AppriseNotifier(sms=f"json://{host}/sms/{{to}}", email=f"json://{host}/mail/{{to}}")
        await notifier.send("sms", "+15550100", "Your verification code", "code 123456")
        await notifier.send("email", "alice@contoso.example", "Your temporary password", "link")
        assert [(p, m["title"], m["message"]) for p, m in received] == [
            ("sms/+15550100", "Your verification code", "code 123456"),
            ("mail/alice@contoso.example", "Your temporary password", "link"),
        ]
    with pytest.raises(DeliveryFailed, match="no sms channel"):
        await AppriseNotifier(email=f"json://{host}/mail/{{to}}").send("sms", "+1555", "s", "b")
    with pytest.raises(DeliveryFailed, match="could not be sent"):  # the receiver is gone now
        await AppriseNotifier(sms=f"json://{host}/sms/{{to}}").send("sms", "+1555", "s", "b")


def test_register_adds_the_identity_backend(db: Database, settings: Settings) -> None:
    router = BackendRouter()
    register(router, db, settings)
    assert router.kinds() == {"identity"}

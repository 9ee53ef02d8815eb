"""Plug the identity backend into the executor's router from settings (one call at start-up).

``register(router, database, settings)`` adds the ``identity`` backend with the vault keyring,
the public URL of the one-time view, and the notifier (apprise URLs from the environment, if set).
"""

from __future__ import annotations

import os

from mspclaw.config import Settings
from mspclaw.database.core import Database
from mspclaw.identity.backend import IdentityBackend
from mspclaw.identity.notify import AppriseNotifier, Notifier
from mspclaw.tools import BackendRouter
from mspclaw.vault.keys import KeyringProvider


def notifier_from_environment() -> Notifier | None:
    """An apprise notifier when MSPCLAW_IDENTITY_EMAIL_URL / _SMS_URL are set (``{to}`` = recipient)."""
    email = os.environ.get("MSPCLAW_IDENTITY_EMAIL_URL")
    sms = os.environ.get("MSPCLAW_IDENTITY_SMS_URL")
    if not email and not sms:
        return None
    return AppriseNotifier(email=email, sms=sms)


def identity_backend(database: Database, settings: Settings, notifier: Notifier | None = None) -> IdentityBackend:
    """The identity backend for this process."""
    keys = KeyringProvider(settings.master_key, settings.data_dir)
    return IdentityBackend(
        database.sessions,
        keys.current,
        notifier if notifier is not None else notifier_from_environment(),
        view_url=settings.base_url.rstrip("/") + "/api/v1/v/{token}",
    )


def register(router: BackendRouter, database: Database, settings: Settings, notifier: Notifier | None = None) -> None:
    """Add the identity backend to ``router``."""
    router.register(identity_backend(database, settings, notifier))

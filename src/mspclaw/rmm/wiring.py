"""Plug the ``rmm_script`` backend into the executor's router (one call at start-up)."""

from __future__ import annotations

from mspclaw.config import Settings
from mspclaw.database.core import Database
from mspclaw.rmm.backend import RmmScriptBackend
from mspclaw.tools import BackendRouter
from mspclaw.vault.keys import KeyringProvider


def register(router: BackendRouter, database: Database, settings: Settings) -> None:
    """Add the rmm_script backend (vault keyring from settings) to ``router``."""
    keys = KeyringProvider(settings.master_key, settings.data_dir)
    router.register(RmmScriptBackend(database.sessions, keys.current))

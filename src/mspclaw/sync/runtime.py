"""The process-wide handles sync jobs need outside a request: the database and the vault
keyring. The API installs them from its app state; a bare worker opens them from settings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mspclaw.config import get_settings
from mspclaw.database.core import Database
from mspclaw.vault.keys import Keyring, KeyringProvider


@dataclass
class SyncRuntime:
    """What a sync job runs against."""

    db: Database
    keys: KeyringProvider
    #: Passed to connectors built by jobs (tests shorten timeouts and retries here).
    connector_options: dict[str, Any] = field(default_factory=dict)

    def keyring(self) -> Keyring:
        """The current vault keyring (re-read after a rotation)."""
        return self.keys.current()


_current: SyncRuntime | None = None


def install(db: Database, keys: KeyringProvider) -> SyncRuntime:
    """Make ``db`` and ``keys`` the handles jobs in this process use."""
    global _current
    if _current is None or _current.db is not db or _current.keys is not keys:
        _current = SyncRuntime(db, keys)
    return _current


def ensure(db: Database, keys: KeyringProvider) -> SyncRuntime:
    """Install ``db`` unless a runtime for that same database is installed already (keeps its options)."""
    if _current is not None and _current.db is db:
        return _current
    return install(db, keys)


def current() -> SyncRuntime:
    """The installed runtime, or one opened from settings (a standalone worker)."""
    global _current
    if _current is None:
        settings = get_settings()
        _current = SyncRuntime(Database.open(settings), KeyringProvider(settings.master_key, settings.data_dir))
    return _current


def reset() -> None:
    """Forget the installed runtime (tests that open a new database)."""
    global _current
    _current = None

"""Master keys: a small keyring whose first key encrypts and whose others only decrypt.

``MSPCLAW_MASTER_KEY`` holds one key or a comma-separated keyring ``id:base64key,...``;
otherwise the keyring lives in ``<data_dir>/master.keys`` (created 0600 on first use).
Rotation adds a new primary key, re-encrypts every secret, then drops retired keys.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from mspclaw.errors import MSPclawError


class VaultError(MSPclawError):
    """The vault cannot encrypt or decrypt (missing or wrong master key)."""

    code = "vault_error"
    status_code = 500


@dataclass
class Keyring:
    """Ordered master keys; ``keys[0]`` is the primary."""

    keys: list[tuple[str, bytes]]
    path: Path | None = None

    def __post_init__(self) -> None:
        if not self.keys:
            raise VaultError("the master keyring is empty")
        for key_id, key in self.keys:
            if len(key) != 32:
                raise VaultError(f"master key {key_id!r} must be 32 bytes (base64 of 32 random bytes)")

    @property
    def primary_id(self) -> str:
        return self.keys[0][0]

    @property
    def primary(self) -> bytes:
        return self.keys[0][1]

    def get(self, key_id: str) -> bytes:
        """The key with this id, or a VaultError naming it (never the key)."""
        try:
            return dict(self.keys)[key_id]  # a handful of keys: no index to keep in sync
        except KeyError:
            raise VaultError(
                f"master key {key_id!r} is not in the keyring; was MSPCLAW_MASTER_KEY changed without rotating?"
            ) from None

    def serialise(self) -> str:
        return ",".join(f"{kid}:{base64.b64encode(k).decode()}" for kid, k in self.keys)

    def save(self) -> None:
        """Persist a file keyring atomically with owner-only permissions."""
        if self.path is None:
            raise VaultError(
                "the keyring comes from MSPCLAW_MASTER_KEY; put the new key first in that variable instead"
            )
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(self.serialise() + "\n")
        os.replace(tmp, self.path)


def new_key() -> tuple[str, bytes]:
    """A fresh random 256-bit key and a short id for it."""
    return secrets.token_hex(4), secrets.token_bytes(32)


def _key_id_for(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:8]


def parse_keyring(text: str, path: Path | None = None) -> Keyring:
    """Parse ``id:base64,...`` or one bare base64 key (its id derived from the key)."""
    keys: list[tuple[str, bytes]] = []
    for part in (p.strip() for p in text.strip().split(",")):
        if not part:
            continue
        key_id, _, encoded = part.rpartition(":") if ":" in part else ("", "", part)
        try:
            key = base64.b64decode(encoded, validate=True)
        except ValueError:
            raise VaultError("MSPCLAW_MASTER_KEY is not valid base64 (expected id:base64key or base64key)") from None
        keys.append((key_id or _key_id_for(key), key))
    return Keyring(keys, path=path)


def load_keyring(master_key: str | None, data_dir: Path) -> Keyring:
    """The keyring from the environment, else the data-folder file (created on first use)."""
    if master_key:
        return parse_keyring(master_key)
    path = data_dir / "master.keys"
    if path.exists():
        return parse_keyring(path.read_text(), path=path)
    data_dir.mkdir(parents=True, exist_ok=True)
    ring = Keyring([new_key()], path=path)
    ring.save()
    return ring


class KeyringProvider:
    """Hands out the current keyring, re-reading a file keyring when another process rotated it."""

    def __init__(self, master_key: str | None, data_dir: Path) -> None:
        self._master_key = master_key
        self._data_dir = data_dir
        self._ring = load_keyring(master_key, data_dir)
        self._mtime = self._stat()

    def _stat(self) -> float | None:
        if self._ring.path is None:
            return None
        try:
            return self._ring.path.stat().st_mtime_ns / 1e9
        except FileNotFoundError:
            return None

    def current(self) -> Keyring:
        """The keyring, reloaded if its file changed since last read."""
        if self._ring.path is not None:
            mtime = self._stat()
            if mtime != self._mtime:
                self._ring = load_keyring(self._master_key, self._data_dir)
                self._mtime = mtime
        return self._ring

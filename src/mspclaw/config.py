"""Settings for every MSPclaw process, read from ``MSPCLAW_*`` environment variables.

When ``MSPCLAW_DATABASE_URL`` is unset MSPclaw runs an embedded PostgreSQL inside the
data folder; every other setting has a default that suits a single-machine install.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("mspclaw", appauthor=False))


class Settings(BaseSettings):
    """All runtime configuration; see the README's configuration table."""

    model_config = SettingsConfigDict(env_prefix="MSPCLAW_", extra="ignore")

    data_dir: Path = Field(default_factory=_default_data_dir)
    database_url: str | None = None
    master_key: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str | None = None
    environment: Literal["development", "production"] = "development"
    log_level: str = "INFO"
    log_format: Literal["console", "json"] | None = None
    secure_cookies: bool | None = None
    session_hours: int = 12
    login_max_failures: int = 5
    login_lockout_minutes: int = 15
    worker_concurrency: int = 4
    approval_timeout_seconds: int = 300
    #: Where endpoint tools run: on devices through their agents ("gateway", the product), or on
    #: this machine ("local": development, demos and tests where this host is the device).
    endpoint_backend: Literal["gateway", "local"] = "gateway"
    #: Embeddings for similar tickets and duplicates: "hashing" (offline default, nothing to
    #: install) or "sentence-transformers" (the optional ``embeddings`` extra). Switching backend
    #: means re-embedding: ``mspclaw embeddings reembed``.
    embedding_backend: Literal["hashing", "sentence-transformers"] = "hashing"
    #: sentence-transformers model: a local folder (offline) or a model name in its cache.
    embedding_model: str = "sentence-transformers/all-MiniLM-L6-v2"
    #: dimension of the hashing backend's vectors (256 has the approximate-nearest-neighbour index)
    embedding_dim: int = Field(default=256, ge=16, le=4096)

    @property
    def effective_log_format(self) -> str:
        """JSON in production unless told otherwise; readable lines in development."""
        if self.log_format:
            return self.log_format
        return "json" if self.environment == "production" else "console"

    @property
    def cookies_secure(self) -> bool:
        """Secure cookies in production or behind HTTPS; plain on loopback development."""
        if self.secure_cookies is not None:
            return self.secure_cookies
        return self.environment == "production"

    @property
    def base_url(self) -> str:
        """The URL people use to reach the console and API."""
        return self.public_url or f"http://{self.host}:{self.port}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (tests clear the cache to change them)."""
    return Settings()

"""Connects the database-independent gateway to PostgreSQL: device auth and cross-process routing."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mspclaw.agents.service import authenticate_device
from mspclaw.gateway import DeviceIdentity


class DatabaseDeviceAuthenticator:
    """Looks device credentials up in ``agent_device_credentials`` (hashed, revocable)."""

    def __init__(self, factory: async_sessionmaker[AsyncSession] | None = None) -> None:
        self.factory = factory

    async def authenticate(self, credential: str) -> DeviceIdentity | None:
        if self.factory is None:
            return None
        return await authenticate_device(self.factory, credential)

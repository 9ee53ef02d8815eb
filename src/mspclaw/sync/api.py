"""The sync engine's routers for the app: ``api_router`` (connections, tickets, alerts,
events under /api/v1) and ``hooks_router`` (vendor webhooks, outside /api/v1)."""

from __future__ import annotations

from fastapi import APIRouter

from mspclaw.sync.views import router as connections_router
from mspclaw.sync.webhooks import router as hooks_router
from mspclaw.tickets.views import router as tickets_router

api_router = APIRouter()
api_router.include_router(connections_router)
api_router.include_router(tickets_router)

__all__ = ["api_router", "hooks_router"]

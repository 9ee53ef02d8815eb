"""First-run set-up: a tenant and an owner whose one-time password is printed once."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mspclaw.audit.service import Actor, record
from mspclaw.auth import service as auth
from mspclaw.auth.models import TechnicianCreate
from mspclaw.auth.permissions import Role
from mspclaw.database.session import tenant_session
from mspclaw.tenancy import service as tenancy
from mspclaw.tenancy.models import Tenant


@dataclass
class OwnerCredentials:
    tenant: str
    email: str
    password: str


async def create_tenant_with_owner(
    factory: async_sessionmaker[AsyncSession],
    *,
    name: str,
    owner_email: str,
    owner_name: str,
    slug: str | None = None,
    actor: Actor | None = None,
) -> OwnerCredentials:
    """Create a tenant and its first owner in one transaction; returns the one-time password."""
    actor = actor or Actor.system("bootstrap")
    async with tenant_session(factory, None) as session, session.begin():
        tenant = await tenancy.create_tenant(session, name=name, slug=slug)
        session.info["tenant_id"] = tenant.id
        tech, password = await auth.create_technician(
            session, data=TechnicianCreate(email=owner_email, name=owner_name, role=Role.OWNER)
        )
        await record(
            session,
            actor=actor,
            action="tenant.create",
            target_type="tenant",
            target_id=tenant.id,
            after={"name": tenant.name, "slug": tenant.slug},
        )
        await record(
            session,
            actor=actor,
            action="technician.create",
            target_type="technician",
            target_id=tech.id,
            after={"email": tech.email, "role": tech.role},
        )
    assert password is not None
    return OwnerCredentials(tenant=tenant.slug, email=tech.email, password=password)


async def ensure_first_tenant(factory: async_sessionmaker[AsyncSession]) -> OwnerCredentials | None:
    """On a fresh install create 'My MSP' with owner admin@mspclaw.local; None when already set up."""
    async with tenant_session(factory, None) as session:
        if await session.scalar(select(Tenant.id).limit(1)) is not None:
            return None
    return await create_tenant_with_owner(
        factory,
        name="My MSP",
        slug="my-msp",
        owner_email="admin@mspclaw.local",
        owner_name="MSPclaw admin",
    )

"""Queries for tenants, clients, sites, contacts and devices (tenant scope comes from the session)."""

from __future__ import annotations

import re
import uuid
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from mspclaw.database.base import Base
from mspclaw.errors import Conflict, InvalidInput, NotFound
from mspclaw.tenancy.models import (
    Client,
    ClientCreate,
    ClientUpdate,
    Contact,
    ContactCreate,
    ContactUpdate,
    Device,
    DeviceCreate,
    DeviceUpdate,
    Site,
    SiteCreate,
    Tenant,
)

M = TypeVar("M", bound=Base)

_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


def slugify(name: str) -> str:
    """A URL-safe slug from a tenant name."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:63].strip("-")
    return slug or "tenant"


async def get_or_raise(session: AsyncSession, model: type[M], object_id: uuid.UUID, label: str) -> M:
    """Fetch one row by id in the session's tenant, or NotFound (never says if it exists elsewhere)."""
    obj: M | None = await session.scalar(select(model).where(model.id == object_id))  # type: ignore[attr-defined,arg-type]
    if obj is None:
        raise NotFound(f"{label} {object_id} not found")
    return obj


async def page(
    session: AsyncSession,
    model: type[M],
    *,
    limit: int,
    offset: int,
    order_by: Any,
    where: Any = None,
) -> tuple[list[M], int]:
    """One page of rows and the total count."""
    query = select(model)
    count = select(func.count()).select_from(model)
    if where is not None:
        query, count = query.where(where), count.where(where)
    rows = await session.scalars(query.order_by(order_by).limit(limit).offset(offset))
    return list(rows.all()), int(await session.scalar(count) or 0)


async def flush_or_conflict(session: AsyncSession, message: str) -> None:
    """Flush; a uniqueness clash becomes a Conflict with ``message``."""
    try:
        await session.flush()
    except IntegrityError as exc:
        await session.rollback()
        raise Conflict(message) from exc


# ---------------------------------------------------------------- tenants


async def create_tenant(session: AsyncSession, *, name: str, slug: str | None = None) -> Tenant:
    """Create an MSP tenant (system scope: CLI and bootstrap only)."""
    name = name.strip()
    if not name:
        raise InvalidInput("tenant name must not be blank")
    slug = slug or slugify(name)
    if not _SLUG.match(slug):
        raise InvalidInput(f"tenant slug {slug!r} must be lowercase letters, digits and dashes")
    if await session.scalar(select(Tenant).where(Tenant.slug == slug)):
        raise Conflict(f"a tenant with slug {slug!r} already exists")
    tenant = Tenant(name=name, slug=slug)
    session.add(tenant)
    await flush_or_conflict(session, f"a tenant with slug {slug!r} already exists")
    return tenant


async def list_tenants(session: AsyncSession) -> list[Tenant]:
    """Every tenant (system scope)."""
    return list((await session.scalars(select(Tenant).order_by(Tenant.created_at))).all())


async def get_tenant_by_slug_or_id(session: AsyncSession, ref: str) -> Tenant:
    """A tenant by slug or id, or NotFound naming what was asked."""
    query = select(Tenant).where(Tenant.slug == ref)
    try:
        query = select(Tenant).where((Tenant.slug == ref) | (Tenant.id == uuid.UUID(ref)))
    except ValueError:
        pass
    tenant = await session.scalar(query)
    if tenant is None:
        raise NotFound(f"no tenant {ref!r}; list them with 'mspclaw tenant list'")
    return tenant


# ---------------------------------------------------------------- clients


async def create_client(session: AsyncSession, *, data: ClientCreate) -> Client:
    """Create a client with validated policy and stack."""
    if await session.scalar(select(Client).where(Client.name == data.name)):
        raise Conflict(f"a client named {data.name!r} already exists")
    client = Client(
        name=data.name,
        domain=data.domain,
        policy=data.policy.model_dump(mode="json"),
        stack=data.stack.model_dump(mode="json"),
    )
    session.add(client)
    await flush_or_conflict(session, f"a client named {data.name!r} already exists")
    return client


async def update_client(session: AsyncSession, *, client: Client, data: ClientUpdate) -> Client:
    """Apply the fields present in ``data``."""
    if data.name is not None and data.name != client.name:
        if await session.scalar(select(Client).where(Client.name == data.name)):
            raise Conflict(f"a client named {data.name!r} already exists")
        client.name = data.name
    if "domain" in data.model_fields_set:
        client.domain = data.domain
    if data.policy is not None:
        client.policy = data.policy.model_dump(mode="json")
    if data.stack is not None:
        client.stack = data.stack.model_dump(mode="json")
    await flush_or_conflict(session, "client update clashes with an existing client")
    return client


async def get_client_by_name_or_id(session: AsyncSession, ref: str) -> Client:
    """A client by exact name or id."""
    query = select(Client).where(Client.name == ref)
    try:
        query = select(Client).where((Client.name == ref) | (Client.id == uuid.UUID(ref)))
    except ValueError:
        pass
    client = await session.scalar(query)
    if client is None:
        raise NotFound(f"no client {ref!r}")
    return client


# ---------------------------------------------------------------- sites, contacts, devices


async def create_site(session: AsyncSession, *, data: SiteCreate) -> Site:
    """Create a site under an existing client of this tenant."""
    await get_or_raise(session, Client, data.client_id, "client")
    site = Site(client_id=data.client_id, name=data.name, address=data.address)
    session.add(site)
    await flush_or_conflict(session, f"client already has a site named {data.name!r}")
    return site


async def _check_site(session: AsyncSession, site_id: uuid.UUID | None, client_id: uuid.UUID) -> None:
    if site_id is not None:
        site = await get_or_raise(session, Site, site_id, "site")
        if site.client_id != client_id:
            raise InvalidInput("the site belongs to a different client")


async def create_contact(session: AsyncSession, *, data: ContactCreate) -> Contact:
    """Create a contact under an existing client."""
    await get_or_raise(session, Client, data.client_id, "client")
    await _check_site(session, data.site_id, data.client_id)
    contact = Contact(**data.model_dump(exclude={"email"}), email=str(data.email).lower() if data.email else None)
    session.add(contact)
    await flush_or_conflict(session, f"a contact with e-mail {data.email} already exists")
    return contact


async def update_contact(session: AsyncSession, *, contact: Contact, data: ContactUpdate) -> Contact:
    """Apply the fields present in ``data``."""
    values = data.model_dump(exclude_unset=True)
    if "site_id" in values:
        await _check_site(session, values["site_id"], contact.client_id)
    if values.get("email"):
        values["email"] = str(values["email"]).lower()
    for key, value in values.items():
        setattr(contact, key, value)
    await flush_or_conflict(session, "another contact already has that e-mail")
    return contact


async def create_device(session: AsyncSession, *, data: DeviceCreate) -> Device:
    """Register a device under an existing client."""
    await get_or_raise(session, Client, data.client_id, "client")
    await _check_site(session, data.site_id, data.client_id)
    if data.contact_id is not None:
        contact = await get_or_raise(session, Contact, data.contact_id, "contact")
        if contact.client_id != data.client_id:
            raise InvalidInput("the contact belongs to a different client")
    device = Device(**data.model_dump())
    session.add(device)
    await session.flush()
    return device


async def update_device(session: AsyncSession, *, device: Device, data: DeviceUpdate) -> Device:
    """Apply the fields present in ``data``."""
    values = data.model_dump(exclude_unset=True)
    if "site_id" in values:
        await _check_site(session, values["site_id"], device.client_id)
    if values.get("contact_id") is not None:
        contact = await get_or_raise(session, Contact, values["contact_id"], "contact")
        if contact.client_id != device.client_id:
            raise InvalidInput("the contact belongs to a different client")
    for key, value in values.items():
        setattr(device, key, value)
    await session.flush()
    return device

"""Script maps (validated against the tool catalog) and where a device's RMM is.

A device is reached through its RMM connection: ``Device.external_ids`` ``rmm_connection_id`` and
``rmm_device_id`` when set; otherwise the client's ``stack.rmm_connection_id`` (or the one
connection whose directory sync lists the client's device) and the device record whose hostname
(short name) matches, as the RMM's directory sync stored it.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from mspclaw.agents.models import DeviceCredential
from mspclaw.connectors.registry import get_connector
from mspclaw.errors import InvalidInput
from mspclaw.rmm.models import ScriptMap, ScriptMapPut, ScriptMapRead, ToolScript
from mspclaw.sync import service as connections
from mspclaw.sync.models import Connection, DirectoryRecord
from mspclaw.tenancy.models import Client, Device
from mspclaw.tenancy.policy import ClientStack
from mspclaw.tools.backends import BackendUnsupported
from mspclaw.tools.catalog import CATALOG
from mspclaw.tools.spec import ToolSpec


class ScriptMapInvalid(InvalidInput):
    """The script map names an unknown tool, an unknown argument, or leaves a required one unmapped."""

    code = "invalid_script_map"


def check_map(connection: Connection, data: ScriptMapPut) -> None:
    """Raise ScriptMapInvalid listing every problem of ``data`` for ``connection``."""
    spec = get_connector(connection.connector).spec()
    if not spec.supports("scripts"):
        raise ScriptMapInvalid(
            f"{spec.title} cannot run scripts: {spec.absent_reason('scripts') or 'not supported'}",
            detail={"connection": str(connection.id), "connector": connection.connector},
        )
    problems: list[dict[str, str]] = []
    for name, entry in data.tools.items():
        tool = CATALOG.get(name)
        if tool is None:
            problems.append({"tool": name, "message": "not in the tool catalog"})
            continue
        if not tool.runs_on("rmm_script"):
            problems.append({"tool": name, "message": "cannot run as an RMM script (not an endpoint tool)"})
            continue
        fields = tool.args_model.model_fields
        for arg in sorted(set(entry.parameters) - set(fields)):
            problems.append({"tool": name, "message": f"{arg} is not an argument of {name} ({', '.join(fields)})"})
        for arg in sorted(f for f, info in fields.items() if info.is_required() and f not in entry.parameters):
            problems.append({"tool": name, "message": f"required argument {arg} is not mapped to a script parameter"})
        targets = list(entry.parameters.values()) + list(entry.constants)
        for param in sorted({p for p in targets if targets.count(p) > 1}):
            problems.append({"tool": name, "message": f"script parameter {param} is given twice"})
        if any(not p.strip() for p in targets):
            problems.append({"tool": name, "message": "a script parameter name is empty"})
    if problems:
        text = "; ".join(f"{p['tool']}: {p['message']}" for p in problems)
        raise ScriptMapInvalid(f"the script map is invalid: {text}", detail={"problems": problems})


async def get_map(session: AsyncSession, *, connection: Connection) -> ScriptMapRead:
    """The connection's map (empty if none was set)."""
    row = await session.scalar(select(ScriptMap).where(ScriptMap.connection_id == connection.id))
    tools = {k: ToolScript.model_validate(v) for k, v in (row.tools if row else {}).items()}
    return ScriptMapRead(connection_id=connection.id, tools=tools, updated_at=row.updated_at if row else None)


async def put_map(session: AsyncSession, *, connection: Connection, data: ScriptMapPut) -> ScriptMapRead:
    """Validate and replace the connection's map."""
    check_map(connection, data)
    row = await session.scalar(select(ScriptMap).where(ScriptMap.connection_id == connection.id))
    if row is None:
        row = ScriptMap(tenant_id=connection.tenant_id, connection_id=connection.id)
        session.add(row)
    row.tools = {k: v.model_dump(mode="json") for k, v in data.tools.items()}
    await session.flush()
    return await get_map(session, connection=connection)


async def tool_script(session: AsyncSession, *, connection: Connection, tool: ToolSpec) -> ToolScript:
    """The script carrying ``tool`` out on ``connection``, or BackendUnsupported naming both."""
    entry = (await get_map(session, connection=connection)).tools.get(tool.name)
    if entry is None:
        raise BackendUnsupported(
            f"connection {connection.name!r} has no script mapped for {tool.name}; "
            f"map one with PUT /api/v1/connections/{connection.id}/script-map",
            detail={"connection": str(connection.id), "tool": tool.name},
        )
    return entry


def script_args(entry: ToolScript, args: dict[str, Any]) -> dict[str, str]:
    """The vendor script parameters for validated tool ``args``."""
    params = dict(entry.constants)
    for arg, param in entry.parameters.items():
        value = args.get(arg)
        if value is None:
            continue
        if isinstance(value, bool):
            params[param] = "true" if value else "false"
        elif isinstance(value, str | int | float):
            params[param] = str(value)
        else:
            params[param] = json.dumps(value, separators=(",", ":"), default=str)
    return params


async def locate(session: AsyncSession, *, device_id: str | None) -> tuple[Connection, str]:
    """The RMM connection managing the device and the device's id there."""
    try:
        device = await session.get(Device, uuid.UUID(device_id)) if device_id else None
    except ValueError:
        device = None
    if device is None:
        raise BackendUnsupported("the run names no known device, so no RMM can reach it", detail={"device": device_id})
    ids = device.external_ids or {}
    client = await session.get(Client, device.client_id)
    stack = ClientStack.model_validate((client.stack if client else None) or {})
    connection_ref = ids.get("rmm_connection_id") or stack.rmm_connection_id
    connection = None
    if connection_ref:
        try:
            connection = await connections.get(session, connection_id=uuid.UUID(str(connection_ref)))
        except ValueError:
            raise BackendUnsupported(
                f"the RMM connection id {connection_ref!r} of device {device.hostname} is not a connection id",
                detail={"device": str(device.id), "rmm_connection_id": str(connection_ref)},
            ) from None
    if ids.get("rmm_device_id") and connection is not None:
        return connection, str(ids["rmm_device_id"])
    short = device.hostname.lower().split(".")[0]  # PC-0001 is pc-0001.corp.local in the RMM
    query = select(DirectoryRecord).where(
        DirectoryRecord.kind == "device",
        or_(
            func.split_part(func.lower(DirectoryRecord.detail["hostname"].astext), ".", 1) == short,
            func.split_part(func.lower(DirectoryRecord.name), ".", 1) == short,
        ),
    )
    if connection is not None:
        query = query.where(DirectoryRecord.connection_id == connection.id)
    else:
        query = query.where(DirectoryRecord.client_id == device.client_id)
    found = list((await session.scalars(query)).all())
    if len(found) != 1:
        why = "no RMM lists" if not found else f"{len(found)} RMM device records match"
        raise BackendUnsupported(
            f"{why} device {device.hostname}: set the client's stack.rmm_connection_id and sync the RMM's "
            "directory, or set the device's external_ids rmm_connection_id and rmm_device_id",
            detail={"device": str(device.id), "hostname": device.hostname, "matches": len(found)},
        )
    record = found[0]
    if connection is None:
        connection = await connections.get(session, connection_id=record.connection_id)
        assert connection is not None
    return connection, record.external_id


async def reach(session: AsyncSession, device: Device) -> dict[str, bool]:
    """How the planner may reach ``device`` (``DeviceInfo.agent`` / ``rmm``): through its RMM when a
    connection lists it, through the MSPclaw agent when one is enrolled or no RMM manages it."""
    try:
        await locate(session, device_id=str(device.id))
    except BackendUnsupported:
        return {"agent": True, "rmm": False}
    enrolled = await session.scalar(
        select(DeviceCredential.id)
        .where(DeviceCredential.device_id == device.id, DeviceCredential.revoked_at.is_(None))
        .limit(1)
    )
    return {"agent": enrolled is not None, "rmm": True}

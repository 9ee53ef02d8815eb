"""Disk tools: usage by folder (read) and temp/cache cleanup inside fixed roots (change).

Cleanup never takes an arbitrary path: every path must sit under one of the platform's
temp/cache roots, contain no '..', and symlinks are removed as links, never followed.
"""

from __future__ import annotations

import asyncio
import os
import stat
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

import psutil
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from mspclaw_agent.tools.base import (
    Host,
    Platform,
    ToolFailed,
    cross_platform_tool,
    current_platform,
)

#: walk budget so one huge folder cannot stall the agent
MAX_ENTRIES = 200_000


def cleanup_roots(platform: Platform | None = None) -> list[Path]:
    """Folders whose contents are safe to delete when old: temp and cache locations."""
    platform = platform or current_platform()
    home = Path.home()
    roots = [Path(tempfile.gettempdir())]
    if platform == "linux":
        roots += [Path("/tmp"), Path("/var/tmp"), home / ".cache"]  # noqa: S108 - fixed roots
    elif platform == "macos":
        roots += [Path("/private/tmp"), home / "Library" / "Caches"]
    else:
        local = os.environ.get("LOCALAPPDATA")
        windir = os.environ.get("WINDIR", r"C:\Windows")
        roots += [Path(windir) / "Temp"]
        if local:
            roots += [Path(local) / "Temp"]
    seen: list[Path] = []
    for root in roots:
        resolved = Path(os.path.realpath(root))
        if resolved not in seen:
            seen.append(resolved)
    return seen


def _inside_roots(path: Path) -> bool:
    return any(path == root or root in path.parents for root in cleanup_roots())


def _check_absolute(raw: str) -> str:
    """``raw`` if it is absolute (POSIX or Windows form: the server plans for any OS)
    and has no '..' component."""
    forms = (PurePosixPath(raw), PureWindowsPath(raw))
    if not any(f.is_absolute() for f in forms) or any(".." in f.parts for f in forms):
        raise ValueError(f"{raw!r} must be an absolute path without '..'")
    return raw


class CleanupArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    paths: list[str] = Field(
        default_factory=list,
        max_length=10,
        description="folders to clean; each must be inside a temp/cache root (empty = all roots of this OS)",
    )
    older_than_hours: int = Field(24, ge=1, le=24 * 365)
    dry_run: bool = Field(False, description="count what would be deleted, delete nothing")

    @field_validator("paths")
    @classmethod
    def _within_roots(cls, paths: list[str], info: ValidationInfo) -> list[str]:
        # Anywhere (server, planner): absolute, no '..', in POSIX or Windows form. On the
        # device itself (run_tool passes on_device): resolved and inside this OS's roots.
        on_device = bool(info.context and info.context.get("on_device"))
        checked = []
        for raw in paths:
            _check_absolute(raw)
            if not on_device:
                checked.append(raw)
                continue
            candidate = Path(raw)
            if not candidate.is_absolute():
                raise ValueError(f"{raw!r} is not an absolute path on this device")
            real = Path(os.path.realpath(candidate))
            if not _inside_roots(real):
                allowed = ", ".join(str(r) for r in cleanup_roots())
                raise ValueError(f"{raw!r} is outside the allowed cleanup roots ({allowed})")
            checked.append(str(real))
        return checked


async def _in_thread(func: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    """Run blocking ``func(*args, stop)`` in a thread; a cancellation sets ``stop`` so the
    thread does not go on working (deleting) after the caller was told it timed out."""
    stop = threading.Event()
    try:
        return await asyncio.to_thread(func, *args, stop)
    except asyncio.CancelledError:
        stop.set()
        raise


def _clean(root: Path, cutoff: float, dry_run: bool, stop: threading.Event) -> dict[str, Any]:
    deleted = 0
    freed = 0
    errors = 0
    emptied: set[str] = set()  # folders this run removed something from
    for dirpath, dirnames, filenames in os.walk(root, topdown=False, followlinks=False):
        if stop.is_set():
            break  # the call timed out or was cancelled: stop deleting now
        try:
            # judged before we touch it: deleting its files would make the folder look new
            folder_is_old = os.lstat(dirpath).st_mtime <= cutoff
        except OSError:
            folder_is_old = False
        deleted_before = deleted
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            if stop.is_set():
                break
            full = os.path.join(dirpath, name)
            try:
                st = os.lstat(full)
                if not (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)):
                    continue  # sockets, pipes, devices belong to running programs: never touch
                # a regular file read recently is still in use; a symlink's atime moves
                # whenever anything resolves it (our own walk included), so only its mtime counts
                last_used = st.st_mtime if stat.S_ISLNK(st.st_mode) else max(st.st_mtime, st.st_atime)
                if last_used > cutoff:
                    continue
                if not dry_run:
                    os.unlink(full)  # a symlink is removed itself, its target is untouched
                deleted += 1
                freed += st.st_size if stat.S_ISREG(st.st_mode) else 0
            except OSError:
                errors += 1  # in use or protected: leave it, report the count
        if deleted > deleted_before or any(os.path.join(dirpath, d) in emptied for d in dirnames):
            emptied.add(dirpath)
        # A folder goes only when this run emptied it and it was itself old: an empty folder a
        # running program keeps (a database's, an app's socket folder) is never removed.
        if Path(dirpath) != root and not dry_run and folder_is_old and dirpath in emptied:
            try:
                os.rmdir(dirpath)  # only succeeds when now empty
            except OSError:
                pass
    return {"path": str(root), "files_deleted": deleted, "bytes_freed": freed, "errors": errors}


async def _cleanup(args: CleanupArgs, host: Host) -> dict[str, Any]:
    targets = [Path(p) for p in args.paths] or [r for r in cleanup_roots(host.platform)]
    cutoff = time.time() - args.older_than_hours * 3600
    before = psutil.disk_usage(str(targets[0])).free if targets[0].exists() else None
    results = []
    for target in targets:
        if target.is_dir():
            results.append(await _in_thread(_clean, target, cutoff, args.dry_run))
    after = psutil.disk_usage(str(targets[0])).free if targets[0].exists() else None
    return {
        "dry_run": args.dry_run,
        "older_than_hours": args.older_than_hours,
        "targets": results,
        "files_deleted": sum(r["files_deleted"] for r in results),
        "bytes_freed": sum(r["bytes_freed"] for r in results),
        "free_bytes_before": before,
        "free_bytes_after": after,
    }


class DiskUsageArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str | None = Field(None, description="folder to break down (default: home folder)")
    top: int = Field(10, ge=1, le=50, description="how many largest sub-folders to list")

    @field_validator("path")
    @classmethod
    def _absolute(cls, value: str | None) -> str | None:
        return None if value is None else _check_absolute(value)


def _tree_size(path: str, budget: list[int], stop: threading.Event) -> int:
    total = 0
    stack = [path]
    while stack and budget[0] > 0 and not stop.is_set():
        current = stack.pop()
        try:
            with os.scandir(current) as entries:
                for entry in entries:
                    budget[0] -= 1
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            stack.append(entry.path)
                        elif entry.is_file(follow_symlinks=False):
                            total += entry.stat(follow_symlinks=False).st_size
                    except OSError:
                        continue
        except OSError:
            continue
    return total


def _breakdown(root: Path, top: int, stop: threading.Event) -> dict[str, Any]:
    budget = [MAX_ENTRIES]
    folders: list[dict[str, Any]] = []
    files_total = 0
    with os.scandir(root) as entries:
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    folders.append({"path": entry.path, "bytes": _tree_size(entry.path, budget, stop)})
                elif entry.is_file(follow_symlinks=False):
                    files_total += entry.stat(follow_symlinks=False).st_size
            except OSError:
                continue
    folders.sort(key=lambda f: (-int(f["bytes"]), str(f["path"])))
    return {
        "folders": folders[:top],
        "files_in_root_bytes": files_total,
        "complete": budget[0] > 0,
    }


async def _disk_usage(args: DiskUsageArgs, host: Host) -> dict[str, Any]:
    root = Path(args.path) if args.path else Path.home()
    if not root.is_dir():
        raise ToolFailed(f"{root} is not a folder on this device", {"path": str(root)})
    partitions = []
    for part in psutil.disk_partitions(all=False):
        try:
            usage = psutil.disk_usage(part.mountpoint)
        except OSError:
            continue
        partitions.append(
            {
                "mountpoint": part.mountpoint,
                "fstype": part.fstype,
                "total_bytes": usage.total,
                "free_bytes": usage.free,
                "percent_used": usage.percent,
            }
        )
    root_usage = psutil.disk_usage(str(root))
    breakdown = await _in_thread(_breakdown, root, args.top)
    return {
        "path": str(root),
        "free_bytes": root_usage.free,
        "total_bytes": root_usage.total,
        "percent_used": root_usage.percent,
        "partitions": partitions,
        **breakdown,
    }


STORAGE_TOOLS = [
    cross_platform_tool(
        "disk_usage",
        "Free space per volume and the largest sub-folders of a folder.",
        DiskUsageArgs,
        "read",
        _disk_usage,
        timeout_seconds=120,
    ),
    cross_platform_tool(
        "cleanup_temp",
        "Delete files older than N hours from temp/cache folders only.",
        CleanupArgs,
        "change",
        _cleanup,
        timeout_seconds=300,
        verification_hint="disk_usage shows more free space on the same volume",
    ),
]

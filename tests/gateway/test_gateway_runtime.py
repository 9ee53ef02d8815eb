"""Garbage-collector management for gateways holding many sockets (opt-in)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from mspclaw.gateway import Gateway
from mspclaw.gateway.runtime import GATEWAY_GC_THRESHOLDS

from .conftest import MemoryRegistry


@pytest.fixture
def restore_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


async def test_gateway_leaves_the_collector_alone_by_default(registry: MemoryRegistry, restore_gc: None) -> None:
    before = gc.get_threshold()
    gateway = Gateway(registry)
    await gateway.start()
    await gateway.close()
    assert gc.get_threshold() == before


async def test_gc_management_freezes_the_long_lived_heap(registry: MemoryRegistry, restore_gc: None) -> None:
    gc.unfreeze()
    gateway = Gateway(registry, gc_refreeze_seconds=900)
    await gateway.start()
    try:
        assert gc.get_threshold() == GATEWAY_GC_THRESHOLDS
        assert gc.get_freeze_count() > 0
    finally:
        await gateway.close()

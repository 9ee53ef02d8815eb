"""Connector discovery: the built-in adapters plus any package that declares an entry point
in the ``mspclaw.connectors`` group (``name = "package.module:ConnectorClass"``).
"""

from __future__ import annotations

import importlib
import logging
from importlib.metadata import entry_points

from mspclaw.connectors.base import Connector
from mspclaw.connectors.errors import ConnectorError

ENTRY_POINT_GROUP = "mspclaw.connectors"
log = logging.getLogger(__name__)

# Known directly so the registry works before (or without) the package's entry points.
BUILTIN: dict[str, str] = {
    "superops": "mspclaw.connectors.superops.adapter:SuperOpsConnector",
    "connectwise": "mspclaw.connectors.connectwise.adapter:ConnectWiseConnector",
    "ninjaone": "mspclaw.connectors.ninjaone.adapter:NinjaOneConnector",
}


class UnknownConnector(ConnectorError):
    """No installed connector has that name."""

    code = "connector_unknown"
    status_code = 404


def _load(target: str) -> type[Connector]:
    module_name, _, attr = target.partition(":")
    obj = getattr(importlib.import_module(module_name), attr)
    if not (isinstance(obj, type) and issubclass(obj, Connector)):
        raise TypeError(f"{target} is not a Connector subclass")
    return obj


def available() -> dict[str, str]:
    """Connector name → import target, entry points overriding nothing built in."""
    found = dict(BUILTIN)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(ep.name, ep.value)
    return found


def get_connector(name: str) -> type[Connector]:
    """The connector class called ``name``."""
    target = available().get(name)
    if target is None:
        raise UnknownConnector(f"no connector called {name!r}; installed: {', '.join(sorted(available()))}")
    cls = _load(target)
    if cls.spec().name != name:
        raise ConnectorError(f"{target} declares name {cls.spec().name!r}, not {name!r}")
    return cls


def all_connectors() -> dict[str, type[Connector]]:
    """Every loadable connector; a broken third-party package is logged, not fatal."""
    loaded: dict[str, type[Connector]] = {}
    for name in available():
        try:
            loaded[name] = get_connector(name)
        except Exception:
            log.exception("connector %s failed to load", name)
    return loaded

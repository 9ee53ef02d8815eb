"""The console's one Jinja2 environment (templates next to this module) and its filters."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi.templating import Jinja2Templates


def when(value: datetime | None) -> str:
    """UTC time a technician can read at a glance."""
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else "—"


def as_json(value: Any) -> str:
    """Tool arguments and outputs as compact JSON."""
    return json.dumps(value, default=str, sort_keys=True)


templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
templates.env.filters["when"] = when
templates.env.filters["as_json"] = as_json

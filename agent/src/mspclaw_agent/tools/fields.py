"""Argument field types shared by tools: strict patterns that keep values out of option space.

Every value that ends up in an argv is matched against a narrow pattern first; none may
start with '-' so it can never be read as an option by the program receiving it.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated

from pydantic import AfterValidator, Field

_HOSTNAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_-]{1,63})*\.?$")
_PRINTER = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,126}$")
_SEARCH = re.compile(r"^[A-Za-z0-9 ._+-]{1,64}$")


def _host(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        pass
    if not _HOSTNAME.fullmatch(value) or value.startswith("-"):
        raise ValueError("must be a hostname (letters, digits, '-', '.') or an IP address")
    return value


def _printer(value: str) -> str:
    if not _PRINTER.fullmatch(value):
        raise ValueError("must be a printer name: letters, digits, '_', '.', '@', '-'")
    return value


def _search(value: str) -> str:
    if not _SEARCH.fullmatch(value) or value.startswith("-"):
        raise ValueError("must be plain text: letters, digits, space, '.', '_', '+', '-'")
    return value


HostName = Annotated[str, Field(min_length=1, max_length=253), AfterValidator(_host)]
PrinterName = Annotated[str, Field(min_length=1, max_length=127), AfterValidator(_printer)]
SearchText = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_search)]

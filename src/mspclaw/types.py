"""Small validated value types shared by API schemas."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field

_EMAIL = re.compile(r"^[^@\s<>(),;:\"\[\]]+@[A-Za-z0-9](?:[A-Za-z0-9\-]{0,62})(?:\.[A-Za-z0-9\-]{1,63})+$")


def _email(value: str) -> str:
    value = value.strip().lower()
    if not _EMAIL.match(value):
        raise ValueError(f"{value!r} is not an e-mail address (expected name@domain)")
    return value


#: An e-mail address, lower-cased. Internal domains such as ``corp.local`` are valid here:
#: MSP clients with on-prem Active Directory use them.
Email = Annotated[str, Field(max_length=320), AfterValidator(_email)]

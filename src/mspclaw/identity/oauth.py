"""OAuth 2.0 access tokens for directory APIs: a form POST to the provider's token endpoint.

Graph uses the client-credentials grant, Google the refresh-token grant; both return
``access_token`` and ``expires_in``. The token is cached until shortly before it expires.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from mspclaw.identity.base import IdentityError


class TokenSource:
    """Fetches and caches a bearer token from ``token_url`` with a fixed grant ``form``."""

    def __init__(self, http: httpx.AsyncClient, token_url: str, form: dict[str, str]) -> None:
        self._http = http
        self._url = token_url
        self._form = form
        self._token: str | None = None
        self._expires = 0.0

    async def token(self) -> str:
        """A valid access token (fetched when missing or within a minute of expiry)."""
        if self._token is None or time.monotonic() > self._expires - 60:
            try:
                response = await self._http.post(self._url, data=self._form)
            except httpx.HTTPError as exc:
                raise IdentityError(f"cannot reach the token endpoint: {exc}") from None
            body: dict[str, Any] = response.json() if response.content else {}
            if response.status_code != 200 or "access_token" not in body:
                # error_description is the provider's text; it never contains the client secret
                raise IdentityError(
                    f"the token endpoint refused the credentials: {body.get('error_description') or body.get('error')}",
                    detail={"status": response.status_code, "error": body.get("error")},
                )
            self._token = str(body["access_token"])
            self._expires = time.monotonic() + float(body.get("expires_in", 3600))
        return self._token

    def forget(self) -> None:
        """Drop the cached token (after a 401, so the next call fetches a fresh one)."""
        self._token = None


async def call(
    http: httpx.AsyncClient, tokens: TokenSource, method: str, url: str, *, json: Any = None, params: Any = None
) -> httpx.Response:
    """One authorised request; a 401 refreshes the token once."""
    for attempt in (1, 2):
        headers = {"Authorization": f"Bearer {await tokens.token()}"}
        try:
            response = await http.request(method, url, json=json, params=params, headers=headers)
        except httpx.HTTPError as exc:
            raise IdentityError(f"cannot reach the directory API: {exc}") from None
        if response.status_code == 401 and attempt == 1:
            tokens.forget()
            continue
        return response
    return response

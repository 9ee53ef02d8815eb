"""Signing in through the console form, as a person does (shared by the console and demo tests)."""

from __future__ import annotations

import re

import httpx

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


async def console_login(http: httpx.AsyncClient, email: str, password: str) -> str:
    """Sign in through /login; returns the session's CSRF token (from the dashboard's forms)."""
    page = await http.get("/login")
    match = CSRF.search(page.text)
    assert match, page.text
    response = await http.post("/login", data={"email": email, "password": password, "csrf": match.group(1)})
    assert response.status_code == 303, response.text
    dashboard = await http.get("/")
    found = CSRF.search(dashboard.text)
    assert found, dashboard.text
    return found.group(1)


def approval_ids(html: str) -> list[str]:
    """The approvals a page offers a decision on (from its form actions)."""
    return re.findall(r'action="/approvals/([0-9a-f-]{36})/approve"', html)

"""Access token and browser-hardening headers shared by etlcore's aiohttp servers.

The web UI (:mod:`etlcore.ui.server`) and the dashboard plugin's page both let
a token through as ``?token=T`` (after which they set a cookie for the page's
own requests), as that cookie, or as ``Authorization: Bearer T``; and both tell
the browser to run and load nothing but their own files, so a record holding
markup can neither run nor load anything. Kept free of aiohttp so the servers
import it before they import their optional dependencies.
"""

from __future__ import annotations

import hmac
from typing import Any, NamedTuple


def content_security_policy(default_src: str) -> str:
    """The policy of both servers: scripts, fetches, fonts and images from this server
    only, inline styles (Plotly sets them), no plugins, forms, ``<base>`` or framing;
    ``default_src`` covers whatever else a page might ask for."""
    return (f"default-src {default_src}; script-src 'self'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; "
            "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


class Access(NamedTuple):
    """Whether a request may pass, and whether it did so with ``?token=`` (then the
    response sets the cookie)."""

    allowed: bool
    by_query: bool


def _same(offered: str | None, token: str) -> bool:
    return offered is not None and hmac.compare_digest(offered.encode(), token.encode())


def check_token(request: Any, token: str | None, cookie: str) -> Access:
    """Let ``request`` (an aiohttp request) pass when no ``token`` is set, or when its
    query, its ``cookie`` or its bearer header carries the token (compared in constant
    time)."""
    if token is None:
        return Access(True, False)
    header = request.headers.get("Authorization", "")
    bearer = header[7:] if header.startswith("Bearer ") else None
    by_query = _same(request.query.get("token"), token)
    allowed = by_query or _same(request.cookies.get(cookie), token) or _same(bearer, token)
    return Access(allowed, by_query)


def set_token_cookie(response: Any, cookie: str, token: str) -> None:
    """The cookie that carries the token on the page's own requests (script-proof, and
    never sent by another site's page)."""
    response.set_cookie(cookie, token, httponly=True, samesite="Strict")


def harden(response: Any, policy: str) -> Any:
    """Add the headers every response of ours carries: the content security ``policy``,
    no MIME sniffing, no referrer, and no caching unless the handler chose otherwise."""
    response.headers["Content-Security-Policy"] = policy
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers.setdefault("Cache-Control", "no-store")
    return response

"""X API v2 error bodies (RFC 7807-style problems) and the errors they become.

The API answers errors with ``{"title", "detail", "type", "status"}`` or with
``{"errors": [{"message"|"title", "detail", ...}], "title", "detail"}``; a
proxy in between may answer with HTML or nothing. :func:`parse_problem` turns
any of these into one :class:`Problem` whose ``summary`` is what users read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from etlcore.errors import EtlcoreError

_SHOWN = 300  # characters of a body that is not a problem object


@dataclass(frozen=True)
class Problem:
    """One error answer: the HTTP status and what the body says about it."""

    status: int
    title: str = ""
    detail: str = ""
    type: str = ""

    @property
    def summary(self) -> str:
        """``HTTP 429 Too Many Requests: detail (type)``, empty parts left out."""
        text = f"HTTP {self.status}"
        if self.title:
            text += f" {self.title}"
        if self.detail and self.detail != self.title:
            text += f": {self.detail}"
        if self.type:
            text += f" ({self.type})"
        return text


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def parse_problem(status: int, body: bytes | str, reason: str = "") -> Problem:
    """The problem an error answer describes; never raises, whatever the body."""
    raw = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        doc = json.loads(raw) if raw.strip() else None
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        shown = " ".join(raw.split())[:_SHOWN]
        return Problem(status, reason, f"body: {shown}" if shown else "")
    title, detail, kind = _text(doc.get("title")), _text(doc.get("detail")), _text(doc.get("type"))
    errors = doc.get("errors")
    if isinstance(errors, list) and errors:
        messages = []
        for err in errors:
            if isinstance(err, dict):
                message = _text(err.get("detail")) or _text(err.get("message")) or _text(
                    err.get("title"))
                title = title or _text(err.get("title"))
                kind = kind or _text(err.get("type"))
            else:
                message = _text(err)
            if message and message not in messages:
                messages.append(message)
        if messages:
            detail = "; ".join(([detail] if detail else []) + messages)
    if isinstance(doc.get("status"), int) and doc["status"] != status:
        detail = f"{detail} (body status {doc['status']})".strip()
    return Problem(status, title or reason, detail, kind)


class TwitterError(EtlcoreError):
    """The twitter source cannot go on: bad token, forbidden, rules refused."""


class RetryableHttpError(Exception):
    """An error answer worth retrying (429, 5xx): the caller backs off."""

    def __init__(self, problem: Problem):
        super().__init__(problem.summary)
        self.problem = problem


FATAL_HINTS = {
    401: "the bearer token is wrong or revoked",
    403: "the app's access level does not allow this endpoint (or the token's project)",
}


def is_retryable(status: int) -> bool:
    """429 and 5xx are worth another try; any other error answer will not change."""
    return status == 429 or status >= 500 or status == 408

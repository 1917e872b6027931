"""HTTP calls of the X API v2 filtered stream: the stream itself and its rules.

Runs on the driver, in the receiver thread. Uses ``requests`` (tweepy
hard-codes api.twitter.com, and tests point ``base_url`` at a stand-in). Error
answers become :class:`RetryableHttpError` (429, 5xx: the caller backs off) or
:class:`TwitterError` (401, 403, 400: retrying will not help). The bearer token
is sent in a header only and scrubbed from every message this module makes.
"""

from __future__ import annotations

import logging
from typing import Any

from etlcore.plugin.imports import require_module
from etlcore_twitter.config import TwitterSourceConfig
from etlcore_twitter.problems import (
    FATAL_HINTS,
    Problem,
    RetryableHttpError,
    TwitterError,
    is_retryable,
    parse_problem,
)

requests = require_module("requests", "requests>=2.28", feature="the twitter source")

log = logging.getLogger("etlcore_twitter")

STREAM = "/2/tweets/search/stream"
RULES = "/2/tweets/search/stream/rules"
NetworkError = requests.RequestException


class TwitterClient:
    """One source's calls; ``name`` is the source's key in the job (for messages)."""

    def __init__(self, config: TwitterSourceConfig, name: str):
        self.config = config
        self.name = name
        self._token = config.token()
        self.base = config.base_url.rstrip("/")
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {self._token}"
        self.session.headers["User-Agent"] = "etlcore-twitter"

    def redact(self, text: str) -> str:
        return text.replace(self._token, "<redacted>") if self._token else text

    def close(self) -> None:
        self.session.close()

    # -- answers -----------------------------------------------------------------------
    def check(self, resp: Any, what: str) -> None:
        """Raise for an error answer: retryable (429, 5xx) or a TwitterError naming the source."""
        if resp.status_code < 400:
            return
        problem = parse_problem(resp.status_code, resp.content, resp.reason or "")
        resp.close()
        if is_retryable(resp.status_code):
            raise RetryableHttpError(problem)
        hint = FATAL_HINTS.get(resp.status_code)
        message = f"twitter source '{self.name}': {what} failed: {problem.summary}"
        if hint:
            message += f" ({hint}; the token is not shown)"
        raise TwitterError(self.redact(message))

    # -- the stream ----------------------------------------------------------------------
    def stream_params(self) -> dict[str, str]:
        params = {}
        for key, fields in (("tweet.fields", self.config.tweet_fields),
                            ("expansions", self.config.expansions),
                            ("user.fields", self.config.user_fields)):
            if fields:
                params[key] = ",".join(fields)
        if self.config.backfill_minutes:
            params["backfill_minutes"] = str(self.config.backfill_minutes)
        return params

    def connect(self) -> Any:
        """The open streaming response; reading it raises after ``stall_timeout`` of silence."""
        resp = self.session.get(self.base + STREAM, params=self.stream_params(), stream=True,
                                timeout=(self.config.connect_timeout, self.config.stall_timeout))
        self.check(resp, "connecting to the filtered stream")
        return resp

    # -- rules ---------------------------------------------------------------------------
    def list_rules(self) -> list[dict[str, Any]]:
        resp = self.session.get(self.base + RULES, timeout=self._timeout())
        self.check(resp, "listing the stream rules")
        return list(_json(resp).get("data") or [])

    def _timeout(self) -> tuple[float, float]:
        return (self.config.connect_timeout, max(self.config.stall_timeout, 30.0))

    def _post_rules(self, body: dict[str, Any], dry_run: bool, what: str) -> dict[str, Any]:
        params = {"dry_run": "true"} if dry_run else {}
        resp = self.session.post(self.base + RULES, params=params, json=body,
                                 timeout=self._timeout())
        self.check(resp, what)
        doc = _json(resp)
        errors = doc.get("errors") or []
        if errors:
            raise TwitterError(self.redact(f"twitter source '{self.name}': {what} refused: "
                                           + "; ".join(_rule_error(e) for e in errors)))
        return doc

    def add_rules(self, rules: list[dict[str, Any]], dry_run: bool = False) -> list[dict]:
        what = "validating rules (dry_run)" if dry_run else "adding rules"
        return list(self._post_rules({"add": rules}, dry_run, what).get("data") or [])

    def delete_rules(self, ids: list[str], dry_run: bool = False) -> None:
        self._post_rules({"delete": {"ids": ids}}, dry_run, "deleting rules")

    def sync_rules(self, desired: list[dict[str, Any]]) -> tuple[list[dict], list[str]]:
        """Make the stream's rules exactly ``desired``: (rules added, ids deleted).

        Compared on (value, tag): a rule whose tag changed is deleted and added
        again. New rules are validated with ``dry_run`` before anything changes
        (all but those whose value is on the stream already: the API would call
        them duplicates, and it accepted that value before).
        """
        existing = self.list_rules()
        wanted = {(r["value"], r.get("tag", "")) for r in desired}
        have = {(r["value"], r.get("tag", "")): r["id"] for r in existing}
        delete = [rid for key, rid in have.items() if key not in wanted]
        add = [r for r in desired if (r["value"], r.get("tag", "")) not in have]
        values = {r["value"] for r in existing}
        new = [r for r in add if r["value"] not in values]
        if new:
            self.add_rules(new, dry_run=True)
        if delete:
            self.delete_rules(delete)
        if add:
            self.add_rules(add)
        return add, delete


def _json(resp: Any) -> dict[str, Any]:
    """A success answer's JSON object; anything else (a proxy's HTML page) is retried."""
    try:
        doc = resp.json()
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        raise RetryableHttpError(Problem(resp.status_code, "answer is not a JSON object",
                                         f"body: {resp.text[:300]}"))
    return doc


def _rule_error(err: Any) -> str:
    if not isinstance(err, dict):
        return str(err)
    parts = [str(err.get("title") or err.get("message") or "error")]
    if err.get("value"):
        parts.append(f"rule {err['value']!r}")
    details = err.get("details") or err.get("detail")
    if details:
        parts.append(", ".join(details) if isinstance(details, list) else str(details))
    return ": ".join(parts)

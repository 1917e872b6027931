"""The stand-in's rule book: the stream rules endpoints' behaviour, without HTTP.

``POST /2/tweets/search/stream/rules`` takes ``{"add": [...]}`` or
``{"delete": {"ids": [...]}}`` (``dry_run`` validates without changing); one
invalid or duplicate rule fails the whole request, as the API does. Rules
match tweets with the small rule language of :func:`etlcore_twitter.tweets.matches`.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from etlcore_twitter.tweets import matches

PROBLEM = "https://api.twitter.com/2/problems/"


class RuleBook:
    """The rules of one stream, by id; thread-safe."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.rules: dict[str, dict[str, str]] = {}
        self._rule_ids = 1_580_000_000_000_000_000

    def listing(self) -> dict[str, Any]:
        with self.lock:
            data = [dict(r) for r in self.rules.values()]
        meta = {"sent": now(), "result_count": len(data)}
        return {"data": data, "meta": meta} if data else {"meta": meta}

    def change(self, body: Any, dry_run: bool) -> tuple[int, dict[str, Any]]:
        if not isinstance(body, dict) or ("add" in body) == ("delete" in body):
            return 400, invalid("Request body must hold exactly one of 'add' or 'delete'")
        with self.lock:
            if "add" in body:
                return self._add(body["add"], dry_run)
            return self._delete(body["delete"], dry_run)

    def _add(self, rules: Any, dry_run: bool) -> tuple[int, dict[str, Any]]:
        if not isinstance(rules, list) or not rules:
            return 400, invalid("'add' must be a non-empty list of rules")
        errors, have = [], {r["value"] for r in self.rules.values()}
        for rule in rules:
            value = rule.get("value") if isinstance(rule, dict) else None
            why = _rule_problem(value)
            if why:
                errors.append({"value": value, "details": [why], "title": "Invalid Rule",
                               "type": PROBLEM + "invalid-rules"})
            elif value in have:
                errors.append({"value": value, "id": next(
                    i for i, r in self.rules.items() if r["value"] == value),
                    "title": "DuplicateRule", "type": PROBLEM + "duplicate-rules"})
        summary = {"created": 0, "not_created": len(rules), "valid": len(rules) - len(errors),
                   "invalid": len(errors)}
        if errors:  # one bad rule: none is created
            return 200, {"meta": {"sent": now(), "summary": summary}, "errors": errors}
        data = []
        for rule in rules:
            self._rule_ids += 1
            made = {"id": str(self._rule_ids), "value": rule["value"],
                    **({"tag": rule["tag"]} if rule.get("tag") else {})}
            data.append(made)
            if not dry_run:
                self.rules[made["id"]] = made
        summary.update(created=0 if dry_run else len(rules), not_created=len(rules) if dry_run
                       else 0)
        return 201, {"data": data, "meta": {"sent": now(), "summary": summary}}

    def _delete(self, spec: Any, dry_run: bool) -> tuple[int, dict[str, Any]]:
        ids = spec.get("ids") if isinstance(spec, dict) else None
        if not isinstance(ids, list) or not ids:
            return 400, invalid("'delete' must be {\"ids\": [rule ids]}")
        errors = [{"value": i, "title": "RuleNotFound", "details": ["no rule with this id"],
                   "type": PROBLEM + "resource-not-found"} for i in ids if i not in self.rules]
        if not dry_run and not errors:
            for i in ids:
                del self.rules[i]
        deleted = 0 if errors or dry_run else len(ids)
        doc: dict[str, Any] = {"meta": {"sent": now(), "summary": {
            "deleted": deleted, "not_deleted": len(ids) - deleted}}}
        if errors:
            doc["errors"] = errors
        return 200, doc

    def matching(self, tweet: dict[str, Any]) -> list[dict[str, str]]:
        with self.lock:
            rules = list(self.rules.values())
        return [{"id": r["id"], "tag": r.get("tag", "")} for r in rules
                if matches(r["value"], tweet["text"])]


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())


def invalid(message: str, parameters: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"errors": [{"parameters": parameters or {}, "message": message}],
            "title": "Invalid Request", "detail": "One or more parameters to your request was "
            "invalid.", "type": PROBLEM + "invalid-request"}


def _rule_problem(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return "a rule needs a non-empty value"
    if len(value) > 1024:
        return "rule is longer than 1024 characters"
    if value.count("(") != value.count(")"):
        return "unbalanced parentheses"
    if value.strip().upper().endswith((" OR", " AND")) or value.strip().upper() == "OR":
        return "dangling operator"
    return None

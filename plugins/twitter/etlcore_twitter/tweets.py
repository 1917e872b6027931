"""Seeded tweets for the stand-in: tweet ``i`` of seed ``s`` is always the same tweet.

Hashtags follow the demo generator's Zipf-weighted list, so the trending
hashtags job shows a few tags far ahead of the rest.
"""

from __future__ import annotations

import random
from datetime import datetime, timezone
from itertools import accumulate
from typing import Any

from etlcore.connectors.generator import HASHTAGS

_WORD_TEXT = ("the a new just today this is so my we love great big day time people what why "
              "how best really think about more back good world here now going first last")
_WORDS = _WORD_TEXT.split()
_TAG_CUM = list(accumulate(1.0 / (k + 1) ** 1.1 for k in range(len(HASHTAGS))))
_LANGS = ("en", "es", "ja", "pt", "fr", "de")
FIRST_ID = 1_600_000_000_000_000_000  # snowflake-sized ids, as strings on the wire
TWEET_FIELDS = frozenset({"id", "text", "created_at", "lang", "author_id", "public_metrics",
                          "edit_history_tweet_ids", "source", "possibly_sensitive"})
USER_FIELDS = frozenset({"id", "name", "username", "created_at", "verified", "description"})
EXPANSIONS = frozenset({"author_id", "referenced_tweets.id", "attachments.media_keys"})


def make_tweet(seed: int, i: int, start: float = 1_700_000_000.0) -> dict[str, Any]:
    """All fields of generated tweet ``i`` (the server picks what a request asked for)."""
    rng = random.Random(seed * 1_000_003 + i)
    words = [rng.choice(_WORDS) for _ in range(4 + rng.randrange(9))]
    for _ in range(rng.choice((0, 1, 1, 1, 2, 2, 3))):
        words.insert(rng.randrange(len(words) + 1), rng.choices(HASHTAGS, cum_weights=_TAG_CUM)[0])
    author = 10_000 + int(rng.paretovariate(1.2)) % 5000
    created = datetime.fromtimestamp(start + i * 0.01, timezone.utc)
    return {
        "id": str(FIRST_ID + i),
        "text": " ".join(words),
        "edit_history_tweet_ids": [str(FIRST_ID + i)],
        "created_at": created.strftime("%Y-%m-%dT%H:%M:%S.") + f"{created.microsecond // 1000:03d}Z",
        "lang": rng.choice(_LANGS),
        "author_id": str(author),
        "public_metrics": {"retweet_count": rng.randrange(50), "like_count": rng.randrange(500)},
    }


def user(author_id: str) -> dict[str, Any]:
    return {"id": author_id, "name": f"User {author_id}", "username": f"user{author_id}",
            "created_at": "2015-01-01T00:00:00.000Z", "verified": False, "description": ""}


def shape(tweet: dict[str, Any], tweet_fields: set[str], expansions: set[str],
          user_fields: set[str]) -> dict[str, Any]:
    """The stream object for ``tweet`` as a request with these parameters gets it."""
    keep = {"id", "text", "edit_history_tweet_ids"} | tweet_fields
    if "author_id" in expansions:
        keep.add("author_id")
    out: dict[str, Any] = {"data": {k: v for k, v in tweet.items() if k in keep}}
    if "author_id" in expansions and "author_id" in tweet:
        u = user(tweet["author_id"])
        fields = {"id", "name", "username"} | user_fields
        out["includes"] = {"users": [{k: v for k, v in u.items() if k in fields}]}
    return out


def matches(rule: str, text: str) -> bool:
    """A small subset of the rule language: terms (AND), ``OR``, ``-term``, ``has:hashtags``.

    Other operators (``lang:en``, ``is:retweet``) match everything here.
    """
    low = text.lower()
    for alternative in rule.lower().split(" or "):
        ok = True
        for term in alternative.replace("(", " ").replace(")", " ").split():
            negate = term.startswith("-")
            term = term.lstrip("-")
            if term == "has:hashtags":
                hit = "#" in low
            elif ":" in term:
                continue
            else:
                hit = term.strip('"') in low
            if hit == negate:
                ok = False
                break
        if ok:
            return True
    return False

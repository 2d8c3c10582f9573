"""Hashing primitives: keyed digests for secrets, SHA-256 chains, canonical JSON, tokens."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from typing import Any


def random_token(nbytes: int = 32) -> str:
    """A URL-safe random token carrying ``nbytes`` bytes of entropy."""
    return secrets.token_urlsafe(nbytes)


def hmac_sha256_hex(key: bytes, message: str) -> str:
    """HMAC-SHA256 of ``message`` (UTF-8) under ``key``, hex encoded."""
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).hexdigest()


def sha256_hex(data: bytes | str) -> str:
    """SHA-256 of ``data`` (strings are encoded as UTF-8), hex encoded."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def constant_time_equal(a: str, b: str) -> bool:
    """Compare two strings without leaking where they differ through timing."""
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


def canonical_json(value: Any) -> str:
    """Deterministic JSON: sorted keys, no insignificant whitespace, UTF-8 kept as is.

    Used wherever content is hashed, so that the same logical content always gives the same bytes.
    """
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)

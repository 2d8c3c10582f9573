"""Typed, time-ordered identifiers such as ``org_01JD3Q...``.

An identifier is a short type prefix, an underscore and a 26-character ULID (48-bit millisecond
timestamp plus 80 random bits, Crockford base32). The prefix makes a wrong kind of identifier a
clear error ("expected an organisation id") instead of a silent miss, and the time order keeps
B-tree inserts local.
"""

from __future__ import annotations

import os
import re
import time

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_ULID_RE = r"[0-9A-HJKMNP-TV-Z]{26}"
_ID_RE = re.compile(rf"^(?P<prefix>[a-z]{{2,8}})_(?P<ulid>{_ULID_RE})$")


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        chars.append(_CROCKFORD[value & 0x1F])
        value >>= 5
    return "".join(reversed(chars))


def new_ulid(now_ms: int | None = None) -> str:
    """A new ULID string; ``now_ms`` fixes the timestamp part (for tests)."""
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    randomness = int.from_bytes(os.urandom(10), "big")
    return _encode(ms, 10) + _encode(randomness, 16)


def new_id(prefix: str) -> str:
    """A new identifier of the given type prefix, e.g. ``new_id("org")``."""
    if not re.fullmatch(r"[a-z]{2,8}", prefix):
        raise ValueError(f"invalid id prefix {prefix!r}")
    return f"{prefix}_{new_ulid()}"


def parse_id(value: str, prefix: str) -> str | None:
    """Return ``value`` if it is a well-formed identifier of type ``prefix``, otherwise ``None``."""
    match = _ID_RE.match(value)
    if match is None or match.group("prefix") != prefix:
        return None
    return value

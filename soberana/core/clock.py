"""Time helpers: every timestamp Soberana stores is timezone-aware UTC."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Return ``value`` in UTC; naive values (as SQLite returns them) are taken to be UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def isoformat(value: datetime) -> str:
    """A fixed-width ISO 8601 form (microseconds, ``Z``) used wherever a timestamp is hashed."""
    return as_utc(value).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

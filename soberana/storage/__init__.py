"""Persistence: SQLAlchemy 2 (async) on SQLite (embedded, WAL) or PostgreSQL (scale-out)."""

from soberana.storage.base import Base, UTCDateTime
from soberana.storage.db import Database

__all__ = ["Base", "Database", "UTCDateTime"]

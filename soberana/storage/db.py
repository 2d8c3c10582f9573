"""Engines and sessions.

Two kinds of session exist. :meth:`Database.session` is for reading and ordinary work. On SQLite,
:meth:`Database.write_session` opens its transaction with ``BEGIN IMMEDIATE``: it takes the
database's write lock before its first read, so a read-then-write transaction (every admin action,
every audit-log append) never fails half way because another writer committed in between. On
PostgreSQL both are ordinary transactions and row locks do that job.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from soberana.errors import Conflict


def _sqlite_pragmas(busy_timeout_ms: int, *, immediate: bool) -> Any:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event emit BEGIN itself (the pysqlite driver otherwise defers it).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.close()

    def on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return on_connect, on_begin


def _create_engine(url: str, *, echo: bool, pool_size: int, busy_timeout_ms: int, immediate: bool) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, echo=echo)
        on_connect, on_begin = _sqlite_pragmas(busy_timeout_ms, immediate=immediate)
        event.listen(engine.sync_engine, "connect", on_connect)
        event.listen(engine.sync_engine, "begin", on_begin)
        return engine
    return create_async_engine(url, echo=echo, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)


class Database:
    """The database of one Soberana installation: its engines and session factories."""

    def __init__(
        self, url: str, *, echo: bool = False, pool_size: int = 10, sqlite_busy_timeout_ms: int = 5000
    ) -> None:
        self.url = url
        self.dialect = make_url(url).get_backend_name()
        self.engine = _create_engine(
            url, echo=echo, pool_size=pool_size, busy_timeout_ms=sqlite_busy_timeout_ms, immediate=False
        )
        if self.dialect == "sqlite":
            self.write_engine = _create_engine(
                url, echo=echo, pool_size=pool_size, busy_timeout_ms=sqlite_busy_timeout_ms, immediate=True
            )
        else:
            self.write_engine = self.engine
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._write_sessions = async_sessionmaker(self.write_engine, expire_on_commit=False)

    @classmethod
    def from_settings(cls, settings: Any) -> Database:
        """Build from :class:`soberana.settings.Settings` (typed loosely to keep storage below settings)."""
        return cls(
            settings.effective_database_url,
            echo=settings.db_echo,
            pool_size=settings.db_pool_size,
            sqlite_busy_timeout_ms=settings.sqlite_busy_timeout_ms,
        )

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session for reads (and writes that need no read-then-write consistency)."""
        async with self._sessions() as session:
            yield session

    @asynccontextmanager
    async def write_session(self) -> AsyncIterator[AsyncSession]:
        """A session whose transaction holds the write lock from its start on SQLite."""
        async with self._write_sessions() as session:
            yield session

    async def ping(self) -> None:
        """Raise if the database cannot be reached."""
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self.write_engine is not self.engine:
            await self.write_engine.dispose()


@asynccontextmanager
async def conflicts_as(session: AsyncSession, message: str, *, param: str | None = None) -> AsyncIterator[None]:
    """Turn a constraint violation inside the block (at a flush or at the commit) into :class:`Conflict`
    (409) with ``message``, after rolling the transaction back::

        async with conflicts_as(session, f"A collection named {name!r} exists already."):
            session.add(collection)
            await session.commit()
    """
    try:
        yield
    except IntegrityError:
        await session.rollback()
        raise Conflict(message, param=param) from None


async def commit_or_conflict(
    session: AsyncSession, message: str = "Conflicting change.", *, param: str | None = None
) -> None:
    """Commit; a constraint violation becomes :class:`Conflict` (409) with ``message``."""
    async with conflicts_as(session, message, param=param):
        await session.commit()

"""The database layer on both backends: migrations, WAL mode, schema drift, write sessions."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from soberana.schema import include_object, metadata
from soberana.storage import migrate
from soberana.storage.db import Database

EXPECTED_TABLES = {"organisations", "users", "service_accounts", "api_keys", "audit_log", "audit_head"}


async def test_upgrade_downgrade_upgrade(empty_db_url: str) -> None:
    db = Database(empty_db_url)
    try:
        assert await migrate.current_revision(db) is None
        await migrate.upgrade(db)
        assert await migrate.current_revision(db) == migrate.head_revision()
        await migrate.upgrade(db)  # idempotent
        assert await migrate.is_current(db)

        async with db.engine.connect() as conn:
            tables = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
        assert tables >= EXPECTED_TABLES

        await migrate.downgrade(db, "base")
        assert await migrate.current_revision(db) is None
        async with db.engine.connect() as conn:
            tables = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
        assert not (EXPECTED_TABLES & tables)

        await migrate.upgrade(db)
        assert await migrate.is_current(db)
    finally:
        await db.dispose()


async def test_migrations_match_the_models(db: Database) -> None:
    """No drift: the migrated schema is exactly what the SQLAlchemy models declare."""

    def diff(connection: object) -> list[object]:
        context = MigrationContext.configure(
            connection,  # type: ignore[arg-type]
            opts={"compare_type": True, "include_object": include_object},
        )
        return list(compare_metadata(context, metadata()))

    async with db.engine.connect() as conn:
        differences = await conn.run_sync(diff)
    assert differences == []


async def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'nested' / 'dir' / 'soberana.db'}")
    try:
        for factory in (db.session, db.write_session):
            async with factory() as session:
                assert (await session.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
                assert (await session.execute(text("PRAGMA foreign_keys"))).scalar() == 1
        assert (tmp_path / "nested" / "dir" / "soberana.db").exists()
    finally:
        await db.dispose()


async def test_foreign_keys_are_enforced(db: Database) -> None:
    from sqlalchemy.exc import IntegrityError

    insert = text(
        "INSERT INTO users (id, org_id, email, display_name, role, is_active, created_at, updated_at) "
        "VALUES ('usr_x', 'org_missing', 'x@example.org', 'X', 'staff', true, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
    )
    async with db.write_session() as session:
        with pytest.raises(IntegrityError, match=r"(?i)foreign key"):
            await session.execute(insert)


async def test_write_sessions_serialise_read_then_write(db: Database) -> None:
    """Twenty concurrent read-increment-write transactions lose no update on either backend."""
    async with db.write_session() as session:
        await session.execute(text("UPDATE audit_head SET seq = 0"))
        await session.commit()

    async def increment() -> None:
        async with db.write_session() as session:
            row = (
                await session.execute(
                    text("SELECT seq FROM audit_head WHERE id = 1 FOR UPDATE")
                    if db.dialect == "postgresql"
                    else text("SELECT seq FROM audit_head WHERE id = 1")
                )
            ).scalar_one()
            await asyncio.sleep(0.001)
            await session.execute(text("UPDATE audit_head SET seq = :seq WHERE id = 1"), {"seq": row + 1})
            await session.commit()

    await asyncio.gather(*(increment() for _ in range(20)))
    async with db.session() as session:
        assert (await session.execute(text("SELECT seq FROM audit_head"))).scalar_one() == 20


async def test_ping_fails_for_unreachable_database() -> None:
    db = Database("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    try:
        with pytest.raises(OSError):  # noqa: PT011 - refused connections differ in wording by platform
            await db.ping()
    finally:
        await db.dispose()

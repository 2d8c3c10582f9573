"""Alembic migrations, driven programmatically over the application's own async engine.

The same migration scripts run on SQLite (batch mode, so ``ALTER`` works) and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import MetaData
from sqlalchemy.engine import Connection

from soberana.storage.db import Database

if TYPE_CHECKING:
    from alembic.config import Config

# Alembic is imported inside the functions that use it, so a server starts without loading it.

SCRIPT_LOCATION = Path(__file__).parent / "alembic"


def alembic_config(metadata: MetaData | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    config.attributes["target_metadata"] = metadata
    return config


@lru_cache(maxsize=1)
def head_revision() -> str | None:
    """The newest revision among the migration scripts shipped with this version."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _run(connection: Connection, /, action: str, revision: str, metadata: MetaData | None, **kwargs: Any) -> None:
    from alembic import command

    config = alembic_config(metadata)
    config.attributes["connection"] = connection
    getattr(command, action)(config, revision, **kwargs)


async def upgrade(db: Database, revision: str = "head") -> None:
    """Migrate the database up to ``revision`` (default: the newest)."""
    async with db.write_engine.begin() as connection:
        await connection.run_sync(_run, "upgrade", revision, None)


async def downgrade(db: Database, revision: str) -> None:
    """Migrate the database down to ``revision`` (``base`` removes every table)."""
    async with db.write_engine.begin() as connection:
        await connection.run_sync(_run, "downgrade", revision, None)


async def current_revision(db: Database) -> str | None:
    """The revision the database is at, or ``None`` when it was never migrated."""

    def _current(connection: Connection) -> str | None:
        from alembic.runtime.migration import MigrationContext

        return MigrationContext.configure(connection).get_current_revision()

    async with db.engine.connect() as connection:
        return await connection.run_sync(_current)


async def is_current(db: Database) -> bool:
    """True when the database is at the newest revision."""
    return await current_revision(db) == head_revision()


async def make_revision(
    db: Database, metadata: MetaData, message: str, include_object: Callable[..., bool] | None = None
) -> None:
    """Write a new migration script by comparing ``metadata`` with the (migrated) database.

    ``include_object`` (Alembic's hook) leaves out what the models do not map.
    """

    def _revision(connection: Connection) -> None:
        from alembic import command

        config = alembic_config(metadata)
        config.attributes["connection"] = connection
        config.attributes["include_object"] = include_object
        command.revision(config, message=message, autogenerate=True)

    async with db.write_engine.begin() as connection:
        await connection.run_sync(_revision)

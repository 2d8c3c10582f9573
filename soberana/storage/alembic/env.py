"""Alembic environment. Run migrations through :mod:`soberana.storage.migrate`, which passes the
connection (and, for autogenerate, the metadata) in ``config.attributes``.

Migrations are frozen: they import only Alembic, SQLAlchemy and the standard library, so that a
migration does tomorrow what it did when it was written. Autogenerate therefore writes Soberana's
own column types as the SQLAlchemy types they stand for.
"""

from typing import Any

from alembic import context


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    """``UTCDateTime`` (a Python-side conversion) is ``sa.DateTime(timezone=True)`` in the database."""
    if type_ == "type" and type(obj).__name__ == "UTCDateTime":
        return "sa.DateTime(timezone=True)"
    return False


config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run Soberana migrations with `soberana db upgrade` (soberana.storage.migrate)")

context.configure(
    connection=connection,
    target_metadata=config.attributes.get("target_metadata"),
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
    include_object=config.attributes.get("include_object"),
    render_item=render_item,
)
with context.begin_transaction():
    context.run_migrations()

"""Alembic environment. Run migrations through :mod:`soberana.storage.migrate`, which passes the
connection (and, for autogenerate, the metadata) in ``config.attributes``."""

from alembic import context

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
)
with context.begin_transaction():
    context.run_migrations()

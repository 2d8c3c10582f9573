"""``soberana db``: database migrations."""

from __future__ import annotations

import typer

from soberana.cli.context import console, ctx
from soberana.storage import migrate

app = typer.Typer(help="Create, migrate and inspect the database.", no_args_is_help=True)


@app.command()
def upgrade(typer_ctx: typer.Context, revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Create or migrate the database up to REVISION (default: newest). Safe to run twice."""
    context = ctx(typer_ctx)
    before = context.run(migrate.current_revision(context.db))
    context.run(migrate.upgrade(context.db, revision))
    after = context.run(migrate.current_revision(context.db))
    verb = "already at" if before == after else f"upgraded from {before or 'empty'} to"
    console.print(f"Database {verb} revision {after} ({context.db.dialect}).", highlight=False)


@app.command()
def downgrade(
    typer_ctx: typer.Context, revision: str = typer.Argument(..., help="Target revision, or 'base'.")
) -> None:
    """Migrate the database down to REVISION ('base' removes every table)."""
    context = ctx(typer_ctx)
    context.run(migrate.downgrade(context.db, revision))
    after = context.run(migrate.current_revision(context.db))
    console.print(f"Database downgraded to revision {after or 'base (empty)'}.", highlight=False)


@app.command()
def current(typer_ctx: typer.Context) -> None:
    """Print the database's revision and whether it is the newest."""
    context = ctx(typer_ctx)
    revision = context.run(migrate.current_revision(context.db))
    head = migrate.head_revision()
    state = "current" if revision == head else f"behind: newest is {head}, run `soberana db upgrade`"
    console.print(f"{revision or 'none'} ({state})", highlight=False)
    if revision != head:
        raise typer.Exit(1)


@app.command()
def revision(typer_ctx: typer.Context, message: str = typer.Option(..., "-m", "--message")) -> None:
    """(Developers) Write a new migration by comparing the models with a migrated database."""
    from soberana.schema import include_object, metadata

    context = ctx(typer_ctx)
    context.run(migrate.make_revision(context.db, metadata(), message, include_object))

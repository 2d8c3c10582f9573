"""The ``soberana`` command."""

from __future__ import annotations

import json

import typer

from soberana import __version__
from soberana.cli import admin, audit, db, demo, evaluations, governance, knowledge, privacy, training
from soberana.cli.context import CliContext, console, ctx, fail
from soberana.plugins import make_plugin_manager

app = typer.Typer(
    name="soberana",
    help="Soberana: a self-hostable AI platform for the public sector.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


@app.callback()
def root(typer_ctx: typer.Context) -> None:
    """Every command reads the same settings as the server (SOBERANA_* variables, SOBERANA_CONFIG)."""
    typer_ctx.obj = CliContext()


@app.command()
def version() -> None:
    """Print the installed version."""
    console.print(__version__, highlight=False)


@app.command("settings")
def show_settings(
    typer_ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Print the effective configuration, secrets masked."""
    values = ctx(typer_ctx).settings.public_dict()
    if as_json:
        console.print_json(json.dumps(values, default=str))
        return
    from rich.table import Table

    table = Table("setting", "environment variable", "value")
    for name, value in values.items():
        table.add_row(name, f"SOBERANA_{name.upper()}", "" if value is None else str(value))
    console.print(table)


@app.command()
def serve(
    typer_ctx: typer.Context,
    host: str | None = typer.Option(None, help="Interface to listen on (default: SOBERANA_HOST)."),
    port: int | None = typer.Option(None, help="Port to listen on (default: SOBERANA_PORT)."),
    reload: bool = typer.Option(False, help="Restart when the code changes (development only)."),
) -> None:
    """Run the HTTP server (uvicorn, uvloop, httptools)."""
    import uvicorn

    context = ctx(typer_ctx)
    settings = context.settings  # refuses to start on unsafe production settings
    if reload and settings.environment == "production":
        fail("--reload is for development only.")
    if settings.workers > 1 and context.db.dialect == "sqlite":
        console.print("[yellow]Warning:[/] several workers on SQLite serialise every write; use PostgreSQL.")
    bind_host, bind_port = host or settings.host, port or settings.port
    console.print(
        f"Soberana {__version__} listening on http://{bind_host}:{bind_port} "
        f"({settings.environment}; {context.db.dialect})",
        highlight=False,
    )
    uvicorn.run(
        "soberana.web.app:create_app",
        factory=True,
        host=bind_host,
        port=bind_port,
        workers=None if reload else settings.workers,
        reload=reload,
        loop="uvloop",
        http="httptools",
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        log_level=settings.log_level,
        server_header=False,
        access_log=settings.access_log,
    )


app.add_typer(db.app, name="db")
app.add_typer(admin.orgs, name="orgs")
app.add_typer(admin.users, name="users")
app.add_typer(admin.service_accounts, name="service-accounts")
app.add_typer(admin.keys, name="keys")
app.add_typer(audit.app, name="audit")
app.add_typer(privacy.retention, name="retention")
app.add_typer(demo.app, name="demo")
app.add_typer(knowledge.collections, name="collections")
app.add_typer(governance.governance, name="governance")
app.add_typer(evaluations.evaluations, name="eval")
app.add_typer(training.training, name="training")
app.command("ingest")(knowledge.ingest)
app.command("ask")(knowledge.ask)


def build_cli() -> typer.Typer:
    """The command line with the commands of installed plugins added."""
    make_plugin_manager().hook.register_commands(cli=app)
    return app


def main() -> None:
    build_cli()()

"""``soberana retention``: delete what is past its retention period (what the server does every hour)."""

from __future__ import annotations

import typer
from rich.table import Table

from soberana.cli.context import console, ctx

retention = typer.Typer(
    help="Retention periods: citizen and staff conversations, placeholders, usage records.", no_args_is_help=True
)


@retention.command()
def purge(typer_ctx: typer.Context) -> None:
    """Delete citizen conversations, staff conversations, vault entries and usage records past their
    organisation's retention period now; each purge is recorded in the audit log."""
    context = ctx(typer_ctx)

    async def go() -> dict[str, int]:
        async with context.platform.for_command() as platform:
            return await platform.privacy.retention.purge()

    deleted = context.run(go())
    table = Table("data", "deleted")
    for kind, count in deleted.items():
        table.add_row(kind, str(count))
    console.print(table)

"""``soberana audit``: verify, export and read the audit log."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from soberana.audit.schemas import Outcome, VerificationResult
from soberana.cli.context import console, ctx, err_console, fail

app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)


@app.command()
def verify(
    typer_ctx: typer.Context,
    anchor: str | None = typer.Option(
        None, help="SEQ:HASH printed earlier by `soberana audit head`; checks the log was not rewritten since."
    ),
) -> None:
    """Recompute the hash chain; name the first altered, deleted or inserted entry. Exit 1 if broken."""
    context = ctx(typer_ctx)
    parsed = None
    if anchor:
        seq, _, digest = anchor.partition(":")
        if not seq.isdigit() or len(digest) != 64:
            fail("--anchor must look like SEQ:HASH (a number, a colon, 64 hex digits).")
        parsed = (int(seq), digest)

    async def go() -> VerificationResult:
        with Progress(
            TextColumn("Verifying audit chain"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=err_console,
            transient=True,
            disable=not sys.stderr.isatty(),
        ) as progress:
            task = progress.add_task("verify", total=None)

            def on_progress(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            async with context.db.session() as session:
                result = await context.audit.verify(session, anchor=parsed, on_progress=on_progress)
        event = context.principal.event(
            "audit.verify",
            context.origin,
            org_id=None,
            outcome=Outcome.SUCCESS if result.ok else Outcome.FAILURE,
            details={
                "ok": result.ok,
                "entries_checked": result.entries_checked,
                "first_broken_seq": result.first_broken_seq,
            },
        )
        await context.audit.record(context.db, event)
        return result

    result = context.run(go())
    if result.ok:
        console.print(
            f"OK: {result.entries_checked} entries, chain intact. Head {result.head_seq}:{result.head_hash}",
            highlight=False,
        )
        return
    console.print(f"BROKEN: {result.problem}", style="bold red", highlight=False)
    raise typer.Exit(1)


@app.command()
def head(typer_ctx: typer.Context) -> None:
    """Print the newest entry as SEQ:HASH. Keep it elsewhere and pass it to `verify --anchor` later."""
    context = ctx(typer_ctx)

    async def go() -> Any:
        async with context.db.session() as session:
            result = await context.audit.verify(session)
        return result

    result = context.run(go())
    print(f"{result.head_seq}:{result.head_hash}")


@app.command()
def export(
    typer_ctx: typer.Context,
    output: Path | None = typer.Option(None, "--output", "-o", help="File to write (default: standard output)."),
    since: datetime | None = typer.Option(None, help="Only entries at or after this time (UTC)."),
    until: datetime | None = typer.Option(None, help="Only entries before this time (UTC)."),
) -> None:
    """Export the audit log as JSON Lines, oldest first."""
    context = ctx(typer_ctx)
    from soberana.core.clock import as_utc

    async def go() -> int:
        count = 0
        handle = output.open("w", encoding="utf-8") if output else sys.stdout
        try:
            async with context.db.session() as session:
                async for entry in context.audit.export(
                    session,
                    org_ids=None,
                    since=as_utc(since) if since else None,
                    until=as_utc(until) if until else None,
                ):
                    handle.write(entry.model_dump_json() + "\n")
                    count += 1
        finally:
            if output:
                handle.close()
        event = context.principal.event("audit.export", context.origin, org_id=None, details={"entries": count})
        await context.audit.record(context.db, event)
        return count

    count = context.run(go())
    if output:
        console.print(f"Wrote {count} entries to {output}.", highlight=False)


@app.command("list")
def list_entries(
    typer_ctx: typer.Context,
    limit: int = typer.Option(20, min=1, max=500, help="How many entries to show."),
    action: str | None = typer.Option(None, help="Exact action, or a prefix ending in '.'."),
) -> None:
    """Show the newest entries."""
    context = ctx(typer_ctx)

    async def go() -> Any:
        async with context.db.session() as session:
            entries, _ = await context.audit.search(session, org_ids=None, limit=limit, action=action)
        return entries

    table = Table("seq", "time (UTC)", "actor", "action", "object", "outcome", highlight=False)
    for e in context.run(go()):
        table.add_row(
            str(e.seq),
            f"{e.occurred_at:%Y-%m-%d %H:%M:%S}",
            e.actor_label or e.actor_id or e.actor_type,
            e.action,
            e.object_id or "",
            e.outcome,
        )
    console.print(table)

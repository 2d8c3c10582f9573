"""``soberana governance``: the register of AI use cases at the command line — list it, export it as JSON,
import use cases from such a file (as drafts, for review)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.table import Table

from soberana.cli.context import console, ctx, fail
from soberana.errors import Conflict, SoberanaError

governance = typer.Typer(help="The register of AI use cases: list, export, import.", no_args_is_help=True)

FORMAT = "soberana.governance.register/1"


@governance.command("list")
def list_use_cases(
    typer_ctx: typer.Context,
    status: Annotated[str | None, typer.Option(help="Only use cases in this state (e.g. live).")] = None,
) -> None:
    """List the use cases of every organisation, with their state, risk group and versions."""
    context = ctx(typer_ctx)
    entries = context.run(_register(context, status))
    table = Table("id", "organisation", "name", "status", "risk group", "version", "approved")
    for entry, slug in entries:
        row = entry.use_case
        approved = str(row.approved_version) if row.approved_version else "—"
        table.add_row(row.id, slug, row.name, row.status, row.risk_group, str(row.version), approved)
    console.print(table)


@governance.command("export")
def export(
    typer_ctx: typer.Context,
    out: Annotated[Path | None, typer.Option("--out", help="Write to this file (default: standard output).")] = None,
) -> None:
    """Export the register as JSON: each use case's organisation, state, risk group and the fields of its
    latest version (`soberana governance import` reads it back)."""
    context = ctx(typer_ctx)
    entries = context.run(_register(context, None))
    document = {
        "format": FORMAT,
        "use_cases": [
            {
                "organisation": slug,
                "id": entry.use_case.id,
                "status": entry.use_case.status,
                "risk_group": entry.use_case.risk_group,
                "version": entry.use_case.version,
                "approved_version": entry.use_case.approved_version,
                "fields": entry.fields.model_dump(mode="json"),
            }
            for entry, slug in entries
        ],
    }
    text = json.dumps(document, ensure_ascii=False, indent=2)
    if out is None:
        print(text)
    else:
        out.write_text(text + "\n", encoding="utf-8")
        console.print(f"{len(entries)} use cases written to {out}")


@governance.command("import")
def import_use_cases(
    typer_ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="A file written by `soberana governance export`.")],
) -> None:
    """Register the use cases of an exported file as drafts at version 1 (states, approvals and
    assessments are not imported: each is reviewed again); a name its organisation has already is
    skipped."""
    context = ctx(typer_ctx)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        fail(f"{path}: {error}")
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        fail(f'{path} is not an export of the register (its "format" is not {FORMAT!r}).')
    items = document.get("use_cases")
    if not isinstance(items, list):
        fail(f'{path}: "use_cases" is not a list.')
    created, skipped = context.run(_import(context, items))
    for line in skipped:
        console.print(f"skipped: {line}")
    console.print(f"{created} use cases registered as drafts, {len(skipped)} skipped")


async def _register(context: Any, status: str | None) -> list[Any]:
    from soberana.governance.lifecycle import Status

    wanted = Status(status) if status else None
    platform = context.platform
    entries: list[Any] = []
    after = None
    while True:
        page = await platform.governance.list_use_cases(context.principal, status=wanted, limit=200, after=after)
        entries += page
        if len(page) < 200:
            break
        after = page[-1].use_case.id
    async with platform.db.session() as session:
        slugs = {}
        for entry in entries:
            org_id = entry.use_case.org_id
            if org_id not in slugs:
                org = await platform.admin.get_organisation(session, context.principal, org_id)
                slugs[org_id] = org.slug
    return [(entry, slugs[entry.use_case.org_id]) for entry in entries]


async def _import(context: Any, items: list[Any]) -> tuple[int, list[str]]:
    from soberana.governance.schemas import UseCaseCreate

    platform = context.platform
    created, skipped = 0, []
    for number, item in enumerate(items, 1):
        where = f"use case {number}"
        try:
            if not isinstance(item, dict):
                raise ValueError("not an object")
            async with platform.db.session() as session:
                org = await platform.admin.organisation_by_slug(session, context.principal, str(item["organisation"]))
            fields = UseCaseCreate.model_validate({**item.get("fields", {}), "org_id": org.id, "note": "imported"})
            where = f"{org.slug}/{fields.name}"
            await platform.governance.create(context.principal, fields, context.origin)
            created += 1
        except Conflict:
            skipped.append(f"{where}: its organisation has a use case of that name")
        except (KeyError, ValueError, ValidationError, SoberanaError) as error:
            message = error.message if isinstance(error, SoberanaError) else str(error).splitlines()[0]
            skipped.append(f"{where}: {message}")
    return created, skipped

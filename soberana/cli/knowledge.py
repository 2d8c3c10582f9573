"""``soberana collections``, ``soberana ingest`` and ``soberana ask``: knowledge collections from the shell."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from soberana.cli.context import CliContext, console, ctx, fail
from soberana.knowledge.parsing import SUPPORTED_EXTENSIONS
from soberana.knowledge.schemas import AnswerRequest, CollectionCreate, SearchRequest

if TYPE_CHECKING:  # the services (NumPy, the indexes) load when a knowledge command runs, not at CLI start
    from soberana.knowledge.models import Collection
    from soberana.knowledge.service import KnowledgeService
    from soberana.wiring import Platform

collections = typer.Typer(help="Knowledge collections: the documents assistants answer from.", no_args_is_help=True)


@asynccontextmanager
async def knowledge_service(context: CliContext) -> AsyncIterator[Platform]:
    """The platform with a running gateway (so passages can be embedded) and the data-protection
    policies loaded (classifications, redaction at ingestion), as in the server; stopped afterwards."""
    async with context.platform.for_command() as platform:
        yield platform


async def find_collection(context: CliContext, service: KnowledgeService, name: str, org: str | None) -> Collection:
    async with context.db.session() as session:
        if name.startswith("col_"):
            return await service.get_collection(session, context.principal, name)
        organisation = await context.admin.organisation_by_slug(session, context.principal, org or "demo")
        for collection in await service.list_collections(session, context.principal):
            if collection.org_id == organisation.id and collection.name == name:
                return collection
    fail(f"No collection {name!r} in organisation {org or 'demo'!r}. Create it with `soberana collections create`.")


def files_under(paths: list[Path]) -> Iterator[Path]:
    """The supported files among ``paths`` (folders are walked, in a stable order)."""
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUPPORTED_EXTENSIONS)
        elif path.is_file():
            yield path
        else:
            fail(f"{path} does not exist.")


def progress_bar() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


async def ingest_paths(
    context: CliContext,
    platform: Platform,
    collection: Collection,
    paths: list[Path],
    *,
    embed: bool = True,
    root: Path | None = None,
) -> dict[str, Any]:
    """Ingest files (names relative to ``root``) and, with ``embed``, embed every new passage."""
    from soberana.knowledge.jobs import UploadedFile

    jobs = platform.jobs

    found = list(files_under(paths))
    if not found:
        fail(f"No supported files ({', '.join(SUPPORTED_EXTENSIONS)}) under {', '.join(map(str, paths))}.")
    job_id = await jobs.new_job(collection, len(found))
    with progress_bar() as progress:
        reading = progress.add_task("ingesting", total=len(found))
        uploads = []
        for path in found:
            name = str(path.relative_to(root)) if root and path.is_relative_to(root) else path.name
            uploads.append(UploadedFile(name, path.read_bytes()))
        job = await jobs.run_job(
            job_id, collection, uploads, lambda done, _total: progress.update(reading, completed=done)
        )
        embedded = 0
        if embed:
            embedding = progress.add_task("embedding", total=None)
            embedded = await jobs.embed_pending(
                collection, lambda done, total: progress.update(embedding, completed=done, total=total)
            )
    return {"job": job, "embedded": embedded}


@collections.command("list")
def list_collections(typer_ctx: typer.Context) -> None:
    """List collections with their document and passage counts."""
    context = ctx(typer_ctx)

    async def go() -> list[tuple[Collection, tuple[int, int, int]]]:
        async with knowledge_service(context) as platform, context.db.session() as session:
            found = await platform.knowledge.list_collections(session, context.principal)
            counts = await platform.knowledge.counts(session, found)
            return [(c, counts[c.id]) for c in found]

    table = Table("id", "name", "title", "visibility", "documents", "passages", "embedded")
    for collection, (documents, chunks, embedded) in context.run(go()):
        table.add_row(
            collection.id,
            collection.name,
            collection.title,
            collection.visibility,
            str(documents),
            str(chunks),
            str(embedded),
        )
    console.print(table)


@collections.command("create")
def create_collection(
    typer_ctx: typer.Context,
    name: str = typer.Argument(..., help="Short name, unique in the organisation."),
    title: str = typer.Option(..., help="Title shown to users."),
    org: str = typer.Option("demo", help="Slug of the owning organisation."),
    public: bool = typer.Option(False, "--public", help="May serve citizens (default: staff only)."),
    description: str = typer.Option("", help="What the collection holds."),
) -> None:
    """Create a collection."""
    context = ctx(typer_ctx)

    async def go() -> Collection:
        async with knowledge_service(context) as platform, context.db.write_session() as session:
            organisation = await context.admin.organisation_by_slug(session, context.principal, org)
            body = CollectionCreate(
                name=name,
                title=title,
                description=description,
                visibility="public" if public else "internal",
                org_id=organisation.id,
            )
            return await platform.knowledge.create_collection(session, context.principal, body, context.origin)

    collection = context.run(go())
    console.print(f"Created collection {collection.name} ({collection.id}).", highlight=False)


@collections.command("delete")
def delete_collection(
    typer_ctx: typer.Context,
    name: str = typer.Argument(..., help="Collection name or id."),
    org: str = typer.Option("demo", help="Slug of the owning organisation."),
    yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation."),
) -> None:
    """Delete a collection with all its documents."""
    context = ctx(typer_ctx)
    if not yes:
        typer.confirm(f"Delete collection {name!r} and all its documents?", abort=True)

    async def go() -> None:
        async with knowledge_service(context) as platform:
            collection = await find_collection(context, platform.knowledge, name, org)
            async with context.db.write_session() as session:
                await platform.knowledge.delete_collection(session, context.principal, collection.id, context.origin)

    context.run(go())
    console.print(f"Deleted collection {name}.", highlight=False)


def ingest(
    typer_ctx: typer.Context,
    paths: list[Path] = typer.Argument(..., help="Files and folders (walked recursively)."),
    collection: str = typer.Option(..., "--collection", "-c", help="Collection name (or id)."),
    org: str = typer.Option("demo", help="Slug of the organisation that owns the collection."),
    embed: bool = typer.Option(True, help="Embed the new passages now (else the server does it in the background)."),
) -> None:
    """Ingest documents into a collection: PDF, DOCX, HTML, Markdown, text, JSON Lines.

    Unchanged files are skipped; changed ones replace their old passages. A file that cannot be
    read is reported by name and the others go on.
    """
    context = ctx(typer_ctx)

    async def go() -> dict[str, Any]:
        async with knowledge_service(context) as platform:
            found = await find_collection(context, platform.knowledge, collection, org)
            root = paths[0] if len(paths) == 1 and paths[0].is_dir() else None
            return await ingest_paths(context, platform, found, paths, embed=embed, root=root)

    result = context.run(go())
    job = result["job"]
    console.print(
        f"{job.files_done} files: {job.documents_added} documents added, {job.documents_updated} updated, "
        f"{job.documents_unchanged} unchanged; {job.chunks_added} passages; {result['embedded']} embedded.",
        highlight=False,
    )
    for error in job.errors:
        console.print(f"[red]failed:[/] {error['file']}: {error['message']}", highlight=False)
    if job.errors:
        raise typer.Exit(1 if job.status == "failed" else 0)


def ask(
    typer_ctx: typer.Context,
    question: str = typer.Argument(..., help="The question."),
    collection: str = typer.Option(..., "--collection", "-c", help="Collection name (or id)."),
    org: str = typer.Option("demo", help="Slug of the organisation that owns the collection."),
    search_only: bool = typer.Option(False, "--search", help="Show the passages found instead of an answer."),
) -> None:
    """Ask a collection a question: a grounded answer with citations (or the passages found)."""
    context = ctx(typer_ctx)

    async def go() -> Any:
        async with knowledge_service(context) as platform:
            knowledge = platform.knowledge
            found = await find_collection(context, knowledge, collection, org)
            if search_only:
                return await knowledge.search(
                    context.principal, SearchRequest(query=question, collections=[found.id], limit=5)
                )
            return await knowledge.answer(context.principal, AnswerRequest(question=question, collections=[found.id]))

    result = context.run(go())
    if search_only:
        for i, hit in enumerate(result.hits, 1):
            where = " › ".join([hit.title, *hit.heading_path])
            console.print(f"[bold][{i}] {where}[/] (score {hit.score:.4f})", highlight=False)
            console.print(f"    {hit.text[:300]}", highlight=False)
        return
    console.print(result.text, highlight=False)
    for c in result.citations:
        console.print(f"  [{c['index']}] {c['title']} — {c['url'] or c['document_id']}", highlight=False)

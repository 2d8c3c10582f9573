"""The staff workspace's knowledge pages: search and grounded answers over the organisation's
collections (internal ones included), a collection's documents, and uploading documents with progress.

Without JavaScript an upload is a plain multipart form; the job page then shows its state with a
button to look again. With it, the page shows the bytes sent, then follows the ingestion job until
it ends (``/staff/jobs/{id}`` answers JSON to a script).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, UploadFile
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError

from soberana.auth.deps import get_origin
from soberana.auth.principal import Scope
from soberana.errors import InvalidRequest, PayloadTooLarge
from soberana.knowledge.jobs import UploadedFile
from soberana.knowledge.models import IngestJob
from soberana.knowledge.routes import answer_out
from soberana.knowledge.schemas import AnswerRequest, CollectionUpdate, IngestJobOut, SearchRequest
from soberana.knowledge.service import KnowledgeService
from soberana.web.ui import Page, PageContext, get_services

router = APIRouter(include_in_schema=False)


def _knowledge(request: Request) -> KnowledgeService:
    return get_services(request).knowledge


async def _collections(request: Request, page: PageContext) -> list[dict[str, Any]]:
    knowledge = _knowledge(request)
    async with get_services(request).db.session() as session:
        found = await knowledge.list_collections(session, page.principal)
        counts = await knowledge.counts(session, found)
    return [
        {
            "id": c.id,
            "name": c.name,
            "title": c.title or c.name,
            "visibility": c.visibility,
            "classification": c.classification,
            "documents": counts.get(c.id, (0, 0, 0))[0],
            "chunks": counts.get(c.id, (0, 0, 0))[1],
            "embedded": counts.get(c.id, (0, 0, 0))[2],
        }
        for c in found
    ]


async def _search_page(
    request: Request,
    page: PageContext,
    *,
    query: str = "",
    chosen: list[str] | None = None,
    mode: str = "answer",
    answer: Any = None,
    hits: list[Any] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    collections = await _collections(request, page)
    return page.render(
        "staff_search.html",
        status_code=status_code,
        section="search",
        collections=collections,
        chosen=set(chosen if chosen is not None else [c["id"] for c in collections]),
        query=query,
        mode=mode,
        answer=answer,
        hits=hits,
        error=error,
        can_write=page.principal.can(Scope.KNOWLEDGE),
    )


@router.get("/staff/search")
async def search_page(request: Request, page: Page) -> Response:
    return await _search_page(request, page)


@router.post("/staff/search")
async def search(
    request: Request,
    page: Page,
    query: Annotated[str, Form(max_length=4000)] = "",
    collections: Annotated[list[str] | None, Form()] = None,
    mode: Annotated[str, Form(max_length=10)] = "answer",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    """Search, or answer with citations, over the chosen collections (POST: questions stay out of URLs
    and logs)."""
    page.check_form(csrf_token)
    _ = page.t.gettext
    chosen = (collections or [])[:20]
    knowledge = _knowledge(request)
    state: dict[str, Any] = {"query": query, "chosen": chosen, "mode": mode}
    if not query.strip() or not chosen:
        message = _("Write a question and choose at least one collection.")
        return await _search_page(request, page, **state, error=message, status_code=422)
    try:
        if mode == "search":
            retrieval = await knowledge.search(
                page.principal, SearchRequest(query=query.strip(), collections=chosen, limit=10)
            )
            state["hits"] = retrieval.hits
        else:
            answered = await knowledge.answer(page.principal, AnswerRequest(question=query.strip(), collections=chosen))
            state["answer"] = answer_out(answered)
    except ValidationError:
        raise InvalidRequest(_("Write a question and choose at least one collection."), param="query") from None
    return await _search_page(request, page, **state)


@router.get("/staff/collections/{collection_id}")
async def collection_page(collection_id: str, request: Request, page: Page) -> Response:
    knowledge = _knowledge(request)
    async with get_services(request).db.session() as session:
        collection = await knowledge.get_collection(session, page.principal, collection_id)
        documents = await knowledge.list_documents(session, page.principal, collection.id, 500, 0)
        counts = await knowledge.counts(session, [collection])
        organisation = await get_services(request).admin.public_organisation(session, org_id=collection.org_id)
    return page.render(
        "staff_collection.html",
        section="search",
        collection=collection,
        documents=documents,
        counts=counts.get(collection.id, (0, 0, 0)),
        can_write=page.principal.can(Scope.KNOWLEDGE),
        max_bytes=knowledge.settings.knowledge_max_upload_bytes,
        org_slug=organisation.slug if organisation else "",
        base_url=page.settings.public_base_url or str(request.base_url).rstrip("/"),
    )


@router.post("/staff/collections/{collection_id}/widget")
async def widget_sites(
    collection_id: str,
    request: Request,
    page: Page,
    origins: Annotated[str, Form(max_length=10_000)] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    """The sites that may show this public collection's assistant in the widget (one origin per line)."""
    page.check_form(csrf_token)
    listed = [line.strip() for line in origins.splitlines() if line.strip()]
    try:
        update = CollectionUpdate(widget_origins=listed)
    except ValidationError:
        raise InvalidRequest(
            page.t.gettext(
                "Give up to 50 sites, each by its address only, one per line, for example https://www.city.example."
            ),
            param="origins",
        ) from None
    async with get_services(request).db.write_session() as session:
        await _knowledge(request).update_collection(session, page.principal, collection_id, update, get_origin(request))
    return page.redirect(f"/staff/collections/{collection_id}?sites=1")


@router.post("/staff/collections/{collection_id}/documents")
async def upload(
    collection_id: str,
    request: Request,
    page: Page,
    files: list[UploadFile] | None = None,
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    """Start ingesting the uploaded files; answers with the job's page (or its JSON, to a script)."""
    page.check_form(csrf_token)
    services = get_services(request)
    limit = services.settings.knowledge_max_upload_bytes
    uploads = []
    for file in files or []:
        if not file.filename:
            continue  # the empty part a browser sends when no file was chosen
        data = await file.read()
        if len(data) > limit:
            raise PayloadTooLarge(page.t.gettext("%(name)s is larger than the upload limit.") % {"name": file.filename})
        uploads.append(UploadedFile(file.filename, data, file.content_type))
    if not uploads:
        raise InvalidRequest(page.t.gettext("Choose at least one file to upload."), param="files")
    async with services.db.write_session() as session:
        job = await services.jobs.start_ingest(session, page.principal, collection_id, uploads, get_origin(request))
    if "application/json" in request.headers.get("accept", ""):
        return _job_json(job)
    return page.redirect(f"/staff/jobs/{job.id}")


def _job_json(job: IngestJob) -> Response:
    return JSONResponse(IngestJobOut.model_validate(job).model_dump(mode="json"), headers={"Cache-Control": "no-store"})


@router.get("/staff/jobs/{job_id}")
async def job_page(job_id: str, request: Request, page: Page) -> Response:
    """An ingestion job's progress: a page, or JSON for the page's script."""
    services = get_services(request)
    async with services.db.session() as session:
        job = await services.jobs.get_job(session, page.principal, job_id)
    if "application/json" in request.headers.get("accept", ""):
        return _job_json(job)
    return page.render("staff_job.html", section="search", job=job)

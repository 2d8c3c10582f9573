"""HTTP routes over the audit log: list with filters, verify the chain, export as JSON Lines.

The audit package sits below authentication, so it does not know how callers are identified:
:func:`build_router` takes the dependency that tells it what the caller may see.
"""

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from soberana.audit.schemas import AuditAccess, AuditEvent, AuditList, Outcome, VerificationResult
from soberana.audit.service import AuditLog
from soberana.core.components import provider
from soberana.errors import PermissionDenied
from soberana.storage.deps import DatabaseDep, Session

get_audit_log = provider(AuditLog)


# No ``from __future__ import annotations`` here: FastAPI must resolve the local ``Access`` and
# ``Log`` aliases inside build_router at definition time.


def build_router(access_dependency: Callable[..., Awaitable[AuditAccess]]) -> APIRouter:
    router = APIRouter(prefix="/admin/audit", tags=["audit"])
    Access = Annotated[AuditAccess, Depends(access_dependency)]  # noqa: N806 - a type alias
    Log = Annotated[AuditLog, Depends(get_audit_log)]  # noqa: N806 - a type alias

    @router.get("", response_model=AuditList, summary="List audit entries, newest first")
    async def list_entries(
        access: Access,
        log: Log,
        session: Session,
        action: Annotated[
            str | None, Query(description="Exact action, or a prefix ending in '.' (`api_key.`)", max_length=80)
        ] = None,
        actor_id: Annotated[str | None, Query(max_length=80)] = None,
        object_id: Annotated[str | None, Query(max_length=80)] = None,
        outcome: Outcome | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        before: Annotated[int | None, Query(ge=1, description="Entries older than this seq (paging)")] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> AuditList:
        entries, has_more = await log.search(
            session,
            org_ids=access.org_ids,
            limit=limit,
            action=action,
            actor_id=actor_id,
            object_id=object_id,
            outcome=outcome,
            since=since,
            until=until,
            before_seq=before,
        )
        return AuditList(data=entries, has_more=has_more)

    @router.get("/verify", response_model=VerificationResult, summary="Recompute and check the whole hash chain")
    async def verify(
        access: Access,
        log: Log,
        session: Session,
        anchor: Annotated[
            str | None, Query(pattern=r"^\d+:[0-9a-f]{64}$", description="`SEQ:HASH` recorded earlier")
        ] = None,
    ) -> VerificationResult:
        if not access.whole_log:
            raise PermissionDenied("Only platform administrators verify the whole audit chain.")
        parsed = None
        if anchor:
            seq, digest = anchor.split(":")
            parsed = (int(seq), digest)
        return await log.verify(session, anchor=parsed)

    @router.get(
        "/export",
        summary="Export visible entries as JSON Lines",
        response_class=StreamingResponse,
        responses={200: {"content": {"application/x-ndjson": {}}, "description": "One entry per line"}},
    )
    async def export(
        access: Access,
        log: Log,
        db: DatabaseDep,
        request: Request,
        since: datetime | None = None,
        until: datetime | None = None,
        format: Literal["jsonl"] = "jsonl",
    ) -> StreamingResponse:
        await log.record(
            db,
            AuditEvent(
                action="audit.export",
                actor=access.actor,
                org_id=access.org_id,
                details={"since": since.isoformat() if since else None, "until": until.isoformat() if until else None},
                ip=request.client.host if request.client else None,
                request_id=getattr(request.state, "request_id", None),
            ),
        )

        async def lines() -> AsyncIterator[str]:
            async with db.session() as session:
                async for entry in log.export(session, org_ids=access.org_ids, since=since, until=until):
                    yield entry.model_dump_json() + "\n"

        return StreamingResponse(
            lines(),
            media_type="application/x-ndjson",
            headers={"Content-Disposition": 'attachment; filename="audit-log.jsonl"'},
        )

    return router

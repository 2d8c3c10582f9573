"""Public transparency records (no sign-in): ``/transparency/{organisation}`` lists the organisation's
published records of its uses of AI, ``/transparency/{organisation}/{use case}`` shows one, in the page's
language, with links to the same record as JSON and CSV (``/v1/transparency/…``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from soberana.auth.deps import OriginDep
from soberana.web.ui import Page, Services

router = APIRouter(include_in_schema=False)


def _shown(found: Any, language: str) -> dict[str, Any]:
    record = found.record(language)
    figures = record["figures"]
    rates = [(key, figures[key]) for key in ("handoff_rate", "helpful_rate") if figures.get(key) is not None]
    return {"record": record, "out_of_date": found.out_of_date, "version": found.row.version, "rates": rates}


@router.get("/transparency/{org}")
async def transparency_index(org: str, page: Page, services: Services, origin: OriginDep) -> Response:
    name, found = await services.governance.transparency.published(org, origin)
    records = [_shown(f, page.t.language) for f in found]
    return page.render("transparency.html", section="transparency", org=org, org_name=name, records=records)


@router.get("/transparency/{org}/{use_case_id}")
async def transparency_record(
    org: str, use_case_id: str, page: Page, services: Services, origin: OriginDep
) -> Response:
    name, found = await services.governance.transparency.published(org, origin, use_case_id)
    shown = _shown(found[0], page.t.language)
    return page.render("transparency_record.html", section="transparency", org=org, org_name=name, **shown)

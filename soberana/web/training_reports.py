"""Training reports in the console (administrators, their organisations): completions per month and per
course, role or organisation, as charts and a table, and the same as CSV."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Literal

from fastapi import APIRouter
from fastapi.responses import Response

from soberana.core.spreadsheet import to_csv
from soberana.training.service import ReportRow
from soberana.web.console_reports import bar_chart
from soberana.web.i18n import N_
from soberana.web.ui import Page, PageContext, Services

router = APIRouter(include_in_schema=False)
GroupBy = Literal["course", "role", "org"]
GROUPS = {"course": N_("Course"), "role": N_("Role"), "org": N_("Organisation")}


def _label(page: PageContext, services: Services, group_by: str, value: str, names: dict[str, str]) -> str:
    if group_by == "course":
        course = services.training.courses().get(value)
        return course.text(course.spec.title, page.t.language) if course else value
    return names.get(value, value)


async def _names(page: PageContext, services: Services) -> dict[str, str]:
    async with services.db.session() as session:
        organisations, _ = await services.admin.list_organisations(session, page.principal, limit=500)
    return {o.id: o.name for o in organisations}


def _charts(rows: list[ReportRow], label: dict[str, str], page: PageContext) -> tuple[dict[str, object], ...]:
    holding: dict[str, int] = {}
    months: dict[str, int] = {}
    for row in rows:
        holding[row.group] = holding.get(row.group, 0) + row.valid_now
        months[row.month] = months.get(row.month, 0) + row.completions
    now = [SimpleNamespace(group=label[g], requests=n) for g, n in sorted(holding.items(), key=lambda i: label[i[0]])]
    over_time = [SimpleNamespace(group=month, requests=n) for month, n in sorted(months.items())]
    return bar_chart(now, "requests", page), bar_chart(over_time, "requests", page)


@router.get("/console/training")
async def training_report(page: Page, services: Services, group_by: GroupBy = "course") -> Response:
    rows = await services.training.report(page.principal, group_by)
    names = await _names(page, services) if group_by == "org" else {}
    label = {row.group: _label(page, services, group_by, row.group, names) for row in rows}
    holding, over_time = _charts(rows, label, page)
    return page.render(
        "console_training.html",
        section="training-report",
        rows=rows,
        label=label,
        group_by=group_by,
        groups=GROUPS,
        holding=holding,
        over_time=over_time,
    )


@router.get("/console/training.csv")
async def training_csv(page: Page, services: Services, group_by: GroupBy = "course") -> Response:
    rows = await services.training.report(page.principal, group_by)
    text = to_csv(
        ["month", group_by, "completions", "people", "valid_now"],
        ([r.month, r.group, r.completions, r.people, r.valid_now] for r in rows),
    )
    disposition = {"Content-Disposition": f'attachment; filename="training-by-{group_by}.csv"'}
    return Response(text, media_type="text/csv; charset=utf-8", headers=disposition)

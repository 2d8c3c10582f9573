"""The administration console's reports: usage (tables, charts, CSV) and the audit log (filters, verify)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response

from soberana.audit.schemas import Outcome
from soberana.audit.service import AuditLog
from soberana.auth.deps import get_origin
from soberana.auth.principal import Role, Scope
from soberana.auth.service import AdminService
from soberana.errors import PermissionDenied
from soberana.gateway.admin import GatewayAdmin
from soberana.gateway.service import GatewayService
from soberana.web.ui import Page, PageContext, get_services

router = APIRouter(include_in_schema=False)
Metric = Literal["requests", "tokens", "cost", "latency"]
CHART_WIDTH, BAR_HEIGHT, LABEL_WIDTH = 640, 22, 200


def _metric(row: Any, metric: str) -> float:
    if metric == "tokens":
        return float(row.prompt_tokens + row.completion_tokens)
    if metric == "cost":
        return float(row.cost)
    if metric == "latency":
        return float(row.latency_ms_avg)
    return float(row.requests)


def bar_chart(rows: list[Any], metric: str, page: PageContext, scale: float | None = None) -> dict[str, Any]:
    """A horizontal bar chart as SVG geometry (the table beside it carries the same numbers). ``scale``:
    the value of a full-width bar, shared by charts that are compared side by side."""
    values = [_metric(r, metric) for r in rows]
    top = scale or max(values, default=0.0) or 1.0
    bars = []
    for i, (row, value) in enumerate(zip(rows, values, strict=True)):
        width = (CHART_WIDTH - LABEL_WIDTH - 90) * value / top
        bars.append(
            {
                "y": i * (BAR_HEIGHT + 8),
                "width": max(width, 1.0),
                "label": str(row.group)[:28],
                "value": page.t.number(value, 2 if metric == "cost" else 0),
            }
        )
    return {"bars": bars, "height": len(bars) * (BAR_HEIGHT + 8), "width": CHART_WIDTH, "label_width": LABEL_WIDTH}


@dataclass(frozen=True)
class UsageFilter:
    """What a usage report covers: one organisation of yours and one model, or all."""

    organisation: str | None = None
    model: str | None = None

    def query(self) -> str:
        return "".join(
            f"&{name}={quote(value)}" for name, value in (("org", self.organisation), ("model", self.model)) if value
        )


async def _report(
    request: Request,
    page: PageContext,
    group_by: str,
    start: date | None,
    end: date | None,
    only: UsageFilter = UsageFilter(),
    *,
    named: bool = True,
) -> Any:
    admin: AdminService = get_services(request).admin
    gateway: GatewayAdmin = get_services(request).gateway_admin
    principal = page.principal
    principal.require(Scope.ADMIN)
    async with get_services(request).db.session() as session:
        visible = await admin.visible_org_ids(session, principal)
        if only.organisation:  # one of yours, or a 404 page
            visible = frozenset({(await admin.get_organisation(session, principal, only.organisation)).id})
        report = await gateway.report(
            session, group_by=group_by, start=start, end=end, org_ids=visible, model=only.model
        )
        if group_by == "organisation" and named:  # show names, not ids
            orgs, _ = await admin.list_organisations(session, principal, limit=500)
            names = {o.id: o.name for o in orgs}
            for row in report.data:
                row.group = names.get(row.group, row.group)
    return report


async def _choices(request: Request, page: PageContext) -> tuple[list[tuple[str, str]], list[str]]:
    """The organisations a usage report may be narrowed to, and the models."""
    admin: AdminService = get_services(request).admin
    async with get_services(request).db.session() as session:
        orgs, _ = await admin.list_organisations(session, page.principal, limit=500)
    gateway: GatewayService = get_services(request).gateway_service
    return [(o.id, o.name) for o in orgs], [e.alias for e in gateway.catalog.entries()]


MAX_SERIES = 12  # charts over time side by side, the busiest first


def _by_day(report: Any, page: PageContext) -> Any:
    """Days as the page's language writes them."""
    for row in report.data:
        row.group = page.t.date(date.fromisoformat(str(row.group)), "medium")
    return report


async def _series(
    request: Request,
    page: PageContext,
    split: Literal["model", "organisation"],
    metric: str,
    start: date,
    end: date,
    only: UsageFilter,
    organisations: list[tuple[str, str]],
) -> list[dict[str, Any]]:
    """One chart over time for each model (or organisation) with calls in the period, the busiest
    first: small multiples on one shared scale, so that bars compare across charts."""
    totals = await _report(request, page, split, start, end, only, named=False)
    names = dict(organisations)
    reports = []
    for row in sorted(totals.data, key=lambda r: -r.requests)[:MAX_SERIES]:
        subject = str(row.group)
        narrowed = UsageFilter(only.organisation, subject) if split == "model" else UsageFilter(subject, only.model)
        reports.append(
            (names.get(subject, subject), _by_day(await _report(request, page, "day", start, end, narrowed), page))
        )
    scale = max((_metric(row, metric) for _, report in reports for row in report.data), default=0.0)
    return [{"name": name, "chart": bar_chart(report.data, metric, page, scale)} for name, report in reports]


@router.get("/console/usage")
async def usage(
    request: Request,
    page: Page,
    group_by: Literal["organisation", "model", "day"] = "day",
    metric: Metric = "requests",
    start_date: date | None = None,
    end_date: date | None = None,
    org: Annotated[str | None, Query(max_length=64)] = None,
    model: Annotated[str | None, Query(max_length=200)] = None,
    split: Literal["", "model", "organisation"] = "",
) -> Response:
    """Calls, tokens, cost or latency by day, model or organisation; by day for one organisation or
    one model, the chart shows how it went over time, and ``split`` adds one chart over time for each
    model or organisation."""
    end = end_date or datetime.now(UTC).date()
    start = start_date or end - timedelta(days=29)
    only = UsageFilter(org or None, model or None)
    report = await _report(request, page, group_by, start, end, only)
    if group_by == "day":
        _by_day(report, page)
    organisations, models = await _choices(request, page)
    series = await _series(request, page, split, metric, start, end, only, organisations) if split else []
    return page.render(
        "console_usage.html",
        section="usage",
        report=report,
        group_by=group_by,
        metric=metric,
        chart=bar_chart(report.data, metric, page),
        start=start,
        end=end,
        only=only,
        organisations=organisations,
        models=models,
        split=split,
        series=series,
    )


@router.get("/console/usage.csv")
async def usage_csv(
    request: Request,
    page: Page,
    group_by: Literal["organisation", "model", "day"] = "day",
    start_date: date | None = None,
    end_date: date | None = None,
    org: Annotated[str | None, Query(max_length=64)] = None,
    model: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    report = await _report(request, page, group_by, start_date, end_date, UsageFilter(org or None, model or None))
    gateway: GatewayAdmin = get_services(request).gateway_admin
    return Response(
        gateway.report_csv(report),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="usage-{group_by}-{report.start_date}-{report.end_date}.csv"'
        },
    )


def _day(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _audit_access(page: PageContext) -> None:
    if not page.principal.can(Scope.AUDIT):
        raise PermissionDenied(page.t.gettext("Reading the audit log needs an auditor's or administrator's account."))


@router.get("/console/audit")
async def audit(
    request: Request,
    page: Page,
    action: Annotated[str | None, Query(max_length=80)] = None,
    outcome: Annotated[str | None, Query(max_length=20)] = None,
    since: Annotated[str | None, Query(max_length=10)] = None,
    until: Annotated[str | None, Query(max_length=10)] = None,
    before: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    """The audit log; a blank filter field (the form sends every field) means no filter."""
    _audit_access(page)
    outcome_value = Outcome(outcome) if outcome in {o.value for o in Outcome} else None
    since_day, until_day = _day(since), _day(until)
    admin: AdminService = get_services(request).admin
    log: AuditLog = get_services(request).audit
    async with get_services(request).db.session() as session:
        visible = await admin.visible_org_ids(session, page.principal)
        entries, more = await log.search(
            session,
            org_ids=visible,
            limit=50,
            action=action or None,
            outcome=outcome_value,
            since=datetime(since_day.year, since_day.month, since_day.day, tzinfo=UTC) if since_day else None,
            until=(
                datetime(until_day.year, until_day.month, until_day.day, tzinfo=UTC) + timedelta(days=1)
                if until_day
                else None
            ),
            before_seq=before,
        )
    return page.render(
        "console_audit.html",
        section="audit",
        entries=entries,
        more=more,
        filters={
            "action": action or "",
            "outcome": outcome_value.value if outcome_value else "",
            "since": since_day.isoformat() if since_day else "",
            "until": until_day.isoformat() if until_day else "",
        },
        can_verify=page.principal.role is Role.PLATFORM_ADMIN,
        result=None,
    )


@router.post("/console/audit/verify")
async def verify(request: Request, page: Page, csrf_token: Annotated[str, Form()] = "") -> Response:
    """Recompute the whole hash chain (platform administrators); the check itself is audited."""
    page.check_form(csrf_token)
    _audit_access(page)
    if page.principal.role is not Role.PLATFORM_ADMIN:
        raise PermissionDenied(page.t.gettext("Only platform administrators verify the whole audit chain."))
    log: AuditLog = get_services(request).audit
    async with get_services(request).db.session() as session:
        result = await log.verify(session)
    event = page.principal.event(
        "audit.verify",
        get_origin(request),
        org_id=None,
        outcome=Outcome.SUCCESS if result.ok else Outcome.FAILURE,
        details={"ok": result.ok, "entries_checked": result.entries_checked, "source": "console"},
    )
    await log.record(get_services(request).db, event)
    return page.render(
        "console_audit.html",
        section="audit",
        entries=[],
        more=False,
        filters={"action": "", "outcome": "", "since": "", "until": ""},
        can_verify=True,
        result=result,
    )

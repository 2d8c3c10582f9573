"""The home page (public assistants of this installation), the privacy notice and the pattern library."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

from fastapi import APIRouter, Request
from fastapi.responses import Response

from soberana import __version__
from soberana.core.clock import utcnow
from soberana.web.citizen import _labels, _mode_label
from soberana.web.console_reports import bar_chart
from soberana.web.ui import Page, Services
from soberana.web.workspace import sovereignty_label

router = APIRouter(include_in_schema=False)


@router.get("/")
async def home(request: Request, page: Page, services: Services) -> Response:
    assistants = await services.citizens.public_assistants()
    return page.render(
        "home.html",
        section="home",
        assistants=assistants,
        version=__version__,
        environment=page.settings.environment,
        database="PostgreSQL" if services.db.dialect == "postgresql" else "SQLite",
        docs_enabled=page.settings.docs_enabled,
        base_url=page.settings.public_base_url or str(request.base_url).rstrip("/"),
    )


@router.get("/privacy")
async def privacy(page: Page) -> Response:
    return page.render(
        "privacy.html",
        section="privacy",
        retention_days=page.settings.conversation_retention_days,
    )


@router.get("/-/patterns")
async def patterns(page: Page) -> Response:
    """Every interface component on one page, for design and accessibility review."""
    sample = {
        "id": "sample",
        "role": "assistant",
        "mode": "extractive",
        "content": page.t.gettext("A sample answer quoting an official page."),
        "citations": [
            {
                "index": 1,
                "title": page.t.gettext("Sample page"),
                "url": "#",
                "quote": page.t.gettext("A quoted sentence."),
            }
        ],
    }
    generated = {**sample, "id": "generated-sample", "mode": "generated"}
    today = utcnow().date()
    days = [
        SimpleNamespace(group=page.t.date(today - timedelta(days=back), "medium"), requests=calls)
        for back, calls in ((2, 120), (1, 340), (0, 210))
    ]
    return page.render(
        "patterns.html",
        section="patterns",
        sample=sample,
        generated=generated,
        chart=bar_chart(days, "requests", page),
        sovereignty_label=lambda value: sovereignty_label(page, value),
        rated=set(),
        path="#",
        version=__version__,
        now=utcnow(),
        labels=_labels(page),
        mode_label=lambda mode: _mode_label(page, mode),
    )

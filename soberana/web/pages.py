"""Health probes, the self-hosted API documentation and the page templates."""

from __future__ import annotations

import base64
import hashlib
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from soberana.core.components import components
from soberana.storage import migrate
from soberana.storage.db import Database

if TYPE_CHECKING:
    from fastapi.templating import Jinja2Templates

router = APIRouter()


@cache
def templates() -> Jinja2Templates:
    """The page templates, loaded on first use (Jinja2 costs start-up time a model gateway need not pay)."""
    from fastapi.templating import Jinja2Templates

    return Jinja2Templates(directory=Path(__file__).parent / "templates")


@router.get("/healthz", tags=["health"], summary="Liveness: the process answers")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    tags=["health"],
    summary="Readiness: database reachable and migrations current",
    responses={503: {"description": "Not ready; the body says why"}},
)
async def readyz(request: Request) -> JSONResponse:
    db = components(request).get(Database)
    checks: dict[str, str] = {}
    try:
        await db.ping()
        checks["database"] = "ok"
        current = await migrate.current_revision(db)
        head = await anyio.to_thread.run_sync(migrate.head_revision)  # reads the scripts once, off the loop
        checks["migrations"] = (
            "ok" if current == head else f"at {current or 'none'}, expected {head}: run `soberana db upgrade`"
        )
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"; the reason is logged, not shown
        checks["database"] = f"unreachable ({type(exc).__name__})"
    ready = all(v == "ok" for v in checks.values())
    body = {"status": "ready" if ready else "not_ready", "checks": checks}
    return JSONResponse(body, status_code=200 if ready else 503)


def mount_docs(app: FastAPI) -> None:
    """Serve Swagger UI from the installed ``swagger-ui-bundle`` files: no CDN, works offline."""
    from swagger_ui_bundle import swagger_ui_path

    app.mount("/static/swagger-ui", StaticFiles(directory=swagger_ui_path), name="swagger-ui")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        page = get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="Soberana API",
            swagger_js_url="/static/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url="/static/swagger-ui/swagger-ui.css",
            swagger_favicon_url="/static/swagger-ui/favicon-32x32.png",
        )
        page.headers["Content-Security-Policy"] = _docs_policy(bytes(page.body).decode())
        return page


def _docs_policy(html: str) -> str:
    """Swagger UI starts from one inline script: allowed by its hash alone, nothing else inline."""
    hashes = []
    start = html.find("<script>")
    while start >= 0:
        end = html.find("</script>", start)
        script = html[start + len("<script>") : end]
        hashes.append("'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'")
        start = html.find("<script>", end)
    return (
        f"default-src 'self'; script-src 'self' {' '.join(hashes)}; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
    )

"""Staff pages: sign-in and sign-out, the hand-off queue (read a citizen's conversation and reply)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from soberana.auth.deps import get_origin
from soberana.auth.principal import Origin, Principal
from soberana.errors import AuthenticationFailed, InvalidCredentials, InvalidRequest
from soberana.knowledge.schemas import StaffReplyIn
from soberana.web.citizen import _labels, _mode_label
from soberana.web.security import SESSION_COOKIE, secure_cookies
from soberana.web.ui import Page, PageContext, Services, get_services

CASES_PER_PAGE = 50

router = APIRouter(include_in_schema=False)


def _safe_next(value: str | None) -> str:
    """Only a path on this site (never ``//host`` or a full URL) is followed after signing in."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/staff/cases"


async def _open_session(
    request: Request, page: PageContext, principal: Principal, origin: Origin, next_path: str
) -> Response:
    """A new browser session for a signed-in user (a fresh token: never one from before sign-in)."""
    token, _ = await get_services(request).sessions.create(principal, origin.ip)
    response = page.redirect(next_path)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=secure_cookies(page.settings),
        max_age=int(page.settings.web_session_hours * 3600),
    )
    return response


@router.get("/sign-in")
async def sign_in_page(page: Page, next: str | None = None) -> Response:
    if page.signed_in is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    page.form_targets = ["https:"]  # the organisation's identity provider, wherever it is
    return page.render("sign_in.html", section="sign-in", next=_safe_next(next), error=None, email="")


@router.post("/sign-in")
async def sign_in(
    request: Request,
    page: Page,
    email: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    next: Annotated[str, Form(max_length=500)] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    page.check_form(csrf_token)
    origin = get_origin(request)
    try:  # limited per client address and per account (Authenticator.sign_in)
        principal = await get_services(request).authenticator.sign_in(email.strip(), password, origin)
    except InvalidCredentials:
        error = page.t.gettext("Wrong e-mail address or password.")
        return page.render(
            "sign_in.html", status_code=401, section="sign-in", next=_safe_next(next), error=error, email=email
        )
    return await _open_session(request, page, principal, origin, _safe_next(next))


@router.post("/sign-out")
async def sign_out(request: Request, page: Page, csrf_token: Annotated[str, Form()] = "") -> Response:
    page.check_form(csrf_token)
    await get_services(request).sessions.end(request.cookies.get(SESSION_COOKIE))
    response = page.redirect("/?signed_out=1")
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/staff/cases")
async def cases(
    services: Services, page: Page, status: str | None = None, after: Annotated[str | None, Query(max_length=40)] = None
) -> Response:
    wanted = status if status in ("open", "assigned", "closed") else None
    async with services.db.session() as session:
        found, more = await services.handoff.list_cases(
            session, page.principal, wanted, limit=CASES_PER_PAGE, after=after
        )
    following = f"?{urlencode({'status': wanted or '', 'after': found[-1].id})}" if more and found else None
    return page.render("staff_cases.html", section="staff", cases=found, status=wanted, following=following)


@router.get("/staff/cases/{case_id}")
async def case(case_id: str, services: Services, page: Page) -> Response:
    async with services.db.session() as session:
        found, conversation, messages = await services.handoff.get_case(session, page.principal, case_id)
    return page.render(
        "staff_case.html",
        section="staff",
        case=found,
        conversation=conversation,
        messages=messages,
        labels=_labels(page),
        mode_label=lambda mode: _mode_label(page, mode),
    )


@router.post("/staff/cases/{case_id}/reply")
async def reply(
    case_id: str,
    request: Request,
    page: Page,
    message: Annotated[str, Form(max_length=4000)] = "",
    close: Annotated[bool, Form()] = False,
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    page.check_form(csrf_token)
    if not message.strip():
        raise InvalidRequest(page.t.gettext("Write a reply first."), param="message")
    services = get_services(request)
    async with services.db.write_session() as session:
        await services.handoff.reply(
            session, page.principal, case_id, StaffReplyIn(message=message.strip(), close=close), get_origin(request)
        )
    return page.redirect(f"/staff/cases/{case_id}?sent=1")


# -- single sign-on (OpenID Connect) -----------------------------------------------------------------

SSO_COOKIE = "soberana_sso"


def _callback_url(request: Request, page: PageContext) -> str:
    base = page.settings.public_base_url or str(request.base_url)
    return base.rstrip("/") + "/sign-in/sso/callback"


@router.get("/sign-in/sso")
async def sso_start(request: Request, page: Page, org: str = "", next: str | None = None) -> Response:
    """Send the browser to the organisation's identity provider."""
    oidc = get_services(request).oidc
    slug = org.strip().lower()
    if not slug:
        raise InvalidRequest(page.t.gettext("Write your organisation's short name."), param="org")
    url, flow = await oidc.start(slug, _callback_url(request, page), _safe_next(next))
    response = page.redirect(url)
    response.set_cookie(
        SSO_COOKIE,
        flow,
        httponly=True,
        samesite="lax",
        secure=secure_cookies(page.settings),
        path="/sign-in",
        max_age=600,
    )
    return response


@router.get("/sign-in/sso/callback")
async def sso_callback(
    request: Request, page: Page, state: str | None = None, code: str | None = None, error: str | None = None
) -> Response:
    """The provider sends the browser back here: check everything, then open a session."""
    oidc = get_services(request).oidc
    if error:
        raise AuthenticationFailed(page.t.gettext("The identity provider did not sign you in."), code="sso_refused")
    origin = get_origin(request)
    principal, next_path = await oidc.finish(
        request.cookies.get(SSO_COOKIE), state, code, _callback_url(request, page), origin
    )
    response = await _open_session(request, page, principal, origin, _safe_next(next_path))
    response.delete_cookie(SSO_COOKIE, path="/sign-in")
    return response

"""Rendering pages: the language, the signed-in user, CSRF tokens and HTML error pages.

Routes of the web application depend on :func:`page_context`; what they raise (a
:class:`~soberana.errors.SoberanaError`) is shown as an HTML page in the visitor's language, not as
the API's JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal
from urllib.parse import quote, urlencode, urlsplit

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from soberana.auth.principal import Principal, Scope
from soberana.auth.sessions import SignedIn
from soberana.core.components import provider
from soberana.errors import AuthenticationFailed, PermissionDenied, SoberanaError
from soberana.settings import Settings
from soberana.web import i18n
from soberana.web.i18n import N_
from soberana.web.pages import templates
from soberana.web.security import SESSION_COOKIE, anonymous_csrf, check_csrf, secure_cookies, set_csrf_cookie
from soberana.wiring import Platform

LEVEL_NAMES = {  # the default data classification levels (settings.privacy_classifications)
    "public": N_("Public"),
    "internal": N_("Internal"),
    "confidential": N_("Confidential"),
    "secret": N_("Secret"),
}


@dataclass
class PageContext:
    """One page request: its language, its visitor and the CSRF token forms must carry."""

    request: Request
    settings: Settings
    t: i18n.Translator
    signed_in: SignedIn | None
    csrf_token: str
    new_csrf_cookie: bool
    embedded: bool = False  # shown inside the assistant widget on another site
    frame_ancestors: list[str] = field(default_factory=list)  # sites besides this one that may frame the page
    form_targets: list[str] = field(default_factory=list)  # where forms may go besides this site

    @property
    def cookie_samesite(self) -> Literal["lax", "none"]:
        """Cookies of an embedded page must reach it inside another site's frame (HTTPS only)."""
        return "none" if self.embedded and secure_cookies(self.settings) else "lax"

    @property
    def principal(self) -> Principal:
        if self.signed_in is None:
            raise AuthenticationFailed("Sign in to see this page.", code="sign_in_required")
        return self.signed_in.principal

    def check_form(self, sent: str | None) -> None:
        try:
            check_csrf(self.csrf_token, sent)
        except PermissionDenied:
            if self.signed_in is None and self.request.cookies.get(SESSION_COOKIE):
                # a form of a session that has ended since (expired, signed out elsewhere): sign in
                # again and come back, rather than a refusal that reads like an attack
                raise AuthenticationFailed("Your session has ended. Sign in again.", code="sign_in_required") from None
            raise

    def render(self, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        user = None
        if self.signed_in is not None:
            principal = self.signed_in.principal
            user = {
                "name": self.signed_in.display_name,
                "can_admin": principal.can(Scope.ADMIN),
                "can_audit": principal.can(Scope.AUDIT),
                "can_govern": principal.can(Scope.GOVERNANCE),
                "is_platform_admin": principal.is_platform_admin,
                "org_id": principal.org_id,
            }
        response = templates().TemplateResponse(
            self.request,
            f"web/{template}",
            {
                "lang": self.t.language,
                "t": self.t,
                "_": self.t.gettext,
                "ngettext": self.t.ngettext,
                "languages": [(code, i18n.LANGUAGE_NAMES[code], self.in_language(code)) for code in i18n.LANGUAGES],
                "level_name": self.level_name,
                "user": user,
                "csrf_token": self.csrf_token,
                "embedded": self.embedded,
                "embed_query": f"?embed=1&lang={self.t.language}" if self.embedded else "",
                **context,
            },
            status_code=status_code,
        )
        self.finish(response)
        return response

    def level_name(self, level: str) -> str:
        """A data classification level's name: the default levels translated, an installation's own as
        configured (``SOBERANA_PRIVACY_CLASSIFICATIONS``)."""
        return self.t.gettext(LEVEL_NAMES[level]) if level in LEVEL_NAMES else level

    def in_language(self, code: str) -> str:
        """This page in another language: its query kept (an open conversation, a report's filters)."""
        kept = [(name, value) for name, value in self.request.query_params.multi_items() if name != "lang"]
        return "?" + urlencode([*kept, ("lang", code)])

    def redirect(self, url: str) -> Response:
        """See other (303): where a form post goes next, with the cookies every page response carries."""
        response = RedirectResponse(url, status_code=303)
        self.finish(response)
        return response

    def finish(self, response: Response) -> None:
        """Cookies every page response carries: the remembered language, the anonymous CSRF token."""
        if self.request.query_params.get("lang") in i18n.LANGUAGES:
            response.set_cookie(
                i18n.COOKIE,
                self.t.language,
                max_age=365 * 86400,
                samesite="lax",
                secure=secure_cookies(self.settings),
                httponly=True,
            )
        if self.new_csrf_cookie:
            set_csrf_cookie(response, self.csrf_token, self.settings, embedded=self.embedded)
        response.headers.setdefault("Cache-Control", "no-store")
        # everything from this site only (no inline script, no plugins); forms post to this site (the
        # sign-in page also to identity providers); no other site may frame a page (clickjacking),
        # except an assistant's on the sites it names
        ancestors = " ".join(["'self'", *self.frame_ancestors])
        targets = " ".join(["'self'", *self.form_targets])
        response.headers["Content-Security-Policy"] = (
            f"frame-ancestors {ancestors}; default-src 'self'; script-src 'self'; object-src 'none'; "
            f"base-uri 'self'; form-action {targets}"
        )
        response.headers["Content-Language"] = self.t.language


get_services = provider(Platform)
Services = Annotated[Platform, Depends(get_services)]


async def page_context(request: Request) -> PageContext:
    services = get_services(request)
    settings = services.settings
    request.state.html = True  # errors on this request are shown as a page
    language = i18n.negotiate(request, settings.web_default_language)
    signed_in = await services.sessions.resolve(request.cookies.get(SESSION_COOKIE))
    if signed_in is not None:
        csrf, new = signed_in.csrf_token, False
    else:
        csrf, new = anonymous_csrf(request)
    embedded = request.query_params.get("embed") == "1"
    context = PageContext(request, settings, i18n.Translator(language), signed_in, csrf, new, embedded)
    request.state.page = context
    return context


Page = Annotated[PageContext, Depends(page_context)]


def _return_to(request: Request) -> str:
    """Where to come back after signing in: the page asked for, or for a form sent after the session
    ended, the page the form was on (the form's own address may answer POST only)."""
    if request.method == "GET":
        return f"{request.url.path}?{request.url.query}" if request.url.query else request.url.path
    referer = urlsplit(request.headers.get("referer", ""))
    if referer.netloc == request.url.netloc and referer.path.startswith("/"):
        return f"{referer.path}?{referer.query}" if referer.query else referer.path
    return "/staff/cases"


def error_page(request: Request, error: SoberanaError) -> Response:
    """An error on a page of the web application, as a page (sign-in needed: to the sign-in form)."""
    context: PageContext | None = getattr(request.state, "page", None)
    if context is None:
        settings = get_services(request).settings
        context = PageContext(
            request,
            settings,
            i18n.Translator(i18n.negotiate(request, settings.web_default_language)),
            None,
            "",
            False,
        )
    if isinstance(error, AuthenticationFailed) and error.code == "sign_in_required":
        return Response(status_code=303, headers={"Location": f"/sign-in?next={quote(_return_to(request), safe='/')}"})
    titles = {
        400: N_("The request could not be used"),
        401: N_("Not signed in"),
        403: N_("Not allowed"),
        404: N_("Page not found"),
        409: N_("This changed meanwhile"),
        429: N_("Too many attempts"),
    }
    explanations = {  # shown where the error's own message is not in the page's language
        400: N_("What was sent could not be used. Check it and try again."),
        401: N_("Sign in to continue."),
        403: N_("Your account is not allowed to do this."),
        404: N_("There is nothing at this address, or it is not public."),
        409: N_("This was changed meanwhile. Reload the page and try again."),
        413: N_("What was sent is larger than this service accepts."),
        429: N_("There were too many attempts. Wait a moment and try again."),
    }
    # a server-side failure's own message (a deployment's name, an upstream's words) is for staff only
    shown = error.message if error.status_code < 500 or context.signed_in is not None else ""
    response = context.render(
        "error.html",
        status_code=error.status_code,
        heading=titles.get(error.status_code, N_("Something went wrong")),
        message=shown,
        localised=bool(shown) and context.t.speaks(shown),
        explanation=explanations.get(error.status_code, N_("Something went wrong. Try again later.")),
        code=error.code,
    )
    response.headers.update(error.headers)
    return response

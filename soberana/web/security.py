"""Browser security: CSRF tokens and cookies (the sign-in rate limit is the Authenticator's).

* Signed-in pages use the session's CSRF token; anonymous forms (the citizen assistant, the sign-in
  form) a double-submit token: a random value in a ``SameSite=Strict`` cookie that the form repeats.
* Cookies are ``HttpOnly`` and ``SameSite``; ``Secure`` in production (``web_secure_cookies``).
"""

from __future__ import annotations

import hmac
import secrets
from typing import Literal

from starlette.requests import Request
from starlette.responses import Response

from soberana.errors import PermissionDenied
from soberana.settings import Settings

CSRF_COOKIE = "soberana_csrf"
SESSION_COOKIE = "soberana_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


def secure_cookies(settings: Settings) -> bool:
    if settings.web_secure_cookies is not None:
        return settings.web_secure_cookies
    return settings.environment == "production"


def anonymous_csrf(request: Request) -> tuple[str, bool]:
    """The visitor's double-submit token, and whether it is new (then set it with :func:`set_csrf_cookie`)."""
    token = request.cookies.get(CSRF_COOKIE)
    if token and 20 <= len(token) <= 128:
        return token, False
    return secrets.token_urlsafe(32), True


def set_csrf_cookie(response: Response, token: str, settings: Settings, *, embedded: bool = False) -> None:
    """The double-submit cookie: ``Strict``, except on an embedded assistant, whose frame on another
    site must send it back (``None``, over HTTPS, partitioned; the form must still repeat its value)."""
    samesite: Literal["strict", "none"] = "none" if embedded and secure_cookies(settings) else "strict"
    response.set_cookie(CSRF_COOKIE, token, httponly=True, samesite=samesite, secure=secure_cookies(settings), path="/")
    if samesite == "none":
        partition_last_cookie(response)


def partition_last_cookie(response: Response) -> None:
    """Mark the cookie just set ``Partitioned`` (CHIPS): a browser that blocks third-party cookies still
    keeps it for the widget's frame, in a jar of the embedding site's own. (Starlette sets the
    attribute only on Python 3.14 and later.)"""
    for index in range(len(response.raw_headers) - 1, -1, -1):
        name, value = response.raw_headers[index]
        if name == b"set-cookie":
            if b"; partitioned" not in value.lower():
                response.raw_headers[index] = (name, value + b"; Partitioned")
            return


def check_csrf(expected: str | None, sent: str | None) -> None:
    """Refuse a state-changing request whose CSRF token is missing or wrong (403)."""
    if not expected or not sent or not hmac.compare_digest(expected.encode(), sent.encode()):
        raise PermissionDenied(
            "This form has expired or did not come from this site. Reload the page and try again.",
            code="csrf_failed",
        )

"""The one place where exceptions become HTTP responses.

Every error body has the OpenAI shape ``{"error": {"message", "type", "code", "param"}}``. Nothing
but the message chosen here reaches the client: unexpected exceptions are logged with their
traceback and answered with a generic 500 carrying the request id.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

from soberana.errors import (
    Conflict,
    InvalidRequest,
    MalformedJSON,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    SoberanaError,
    ValidationFailed,
    describe_validation_errors,
)
from soberana.web.middleware import security_headers

logger = logging.getLogger("soberana.web")


class ErrorDetail(BaseModel):
    message: str = Field(description="What went wrong, for a person; never a secret or a stack trace.")
    type: str = Field(description="The OpenAI error type, e.g. `invalid_request_error`.")
    code: str = Field(description="A machine-readable code, e.g. `invalid_api_key`.")
    param: str | None = Field(None, description="The parameter at fault, if one is.")
    details: list[dict[str, Any]] | None = Field(None, description="Every problem, when there are several.")


class ErrorBody(BaseModel):
    """The one shape of every error of every API."""

    error: ErrorDetail


def _answer(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


# The errors any API route may answer, documented once for all of them (see docs/index.md).
API_ERRORS: dict[int | str, dict[str, Any]] = {
    400: _answer("Malformed JSON, a malformed id, an impossible request."),
    401: _answer("The API key (or conversation token) is missing or refused."),
    403: _answer("The key lacks the scope or role, or a policy refuses the request."),
    404: _answer("No such object in your organisations."),
    409: _answer("A name already in use, or a change made meanwhile."),
    413: _answer("The body is larger than the limit."),
    422: _answer("Unknown or invalid fields; every problem in `details`."),
    429: _answer("A rate limit or quota; `Retry-After` says when to try again."),
}

_HTTP_ERRORS: dict[int, type[SoberanaError]] = {
    400: InvalidRequest,
    404: NotFound,
    405: MethodNotAllowed,
    413: PayloadTooLarge,
}


def error_response(error: SoberanaError) -> JSONResponse:
    return JSONResponse(error.to_dict(), status_code=error.status_code, headers=error.headers)


def validation_error(exc: RequestValidationError) -> SoberanaError:
    """Turn FastAPI/pydantic validation errors into one clear message (first problem first)."""
    errors = list(exc.errors())
    for error in errors:
        if error.get("type") == "json_invalid":
            detail = error.get("ctx", {}).get("error", "")
            return MalformedJSON(f"The request body is not valid JSON{': ' + detail if detail else ''}.")
    message, param, details = describe_validation_errors([dict(e) for e in errors])
    return ValidationFailed(message, param=param, details=details)


API_PREFIXES = ("/v1/", "/admin/", "/openapi.json", "/docs", "/healthz", "/readyz")


def _wants_page(request: Request) -> bool:
    """A page of the web application, or a browser asking for a page (not an API path): HTML."""
    if getattr(request.state, "html", False):
        return True
    path = request.url.path
    if path.startswith(API_PREFIXES) or path in ("/v1", "/admin"):
        return False
    return "text/html" in request.headers.get("accept", "")


def install_error_handlers(app: FastAPI) -> None:
    def respond(request: Request, error: SoberanaError) -> Response:
        if _wants_page(request):  # a person in a browser on the web application: an error page
            from soberana.web.ui import error_page

            return error_page(request, error)
        return error_response(error)

    @app.exception_handler(SoberanaError)
    async def soberana_error(request: Request, exc: SoberanaError) -> Response:
        return respond(request, exc)

    @app.exception_handler(RequestValidationError)
    async def request_validation_error(request: Request, exc: RequestValidationError) -> Response:
        return respond(request, validation_error(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        cls = _HTTP_ERRORS.get(exc.status_code)
        if exc.status_code == 404 and exc.detail == "Not Found":
            error: SoberanaError = NotFound(
                f"No such endpoint: {request.method} {request.url.path}", code="unknown_url"
            )
        elif exc.status_code == 405:
            error = MethodNotAllowed(f"{request.method} is not allowed on {request.url.path}.")
        elif cls is not None:
            error = cls(str(exc.detail))
        else:  # a status without a class of its own: keep it, in the same body shape
            body = SoberanaError(str(exc.detail), code=f"http_{exc.status_code}").to_dict()
            return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)
        error.headers.update(exc.headers or {})
        return respond(request, error)

    @app.exception_handler(IntegrityError)
    async def constraint_violated(request: Request, exc: IntegrityError) -> Response:
        # A service converts the conflicts it expects (a name in use) with its own message; one it did not
        # expect is still a conflict with the stored data, never a server error.
        logger.warning("constraint violated in %s %s: %s", request.method, request.url.path, type(exc.orig).__name__)
        return respond(request, Conflict("This conflicts with the stored data (a name or a link already in use)."))

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception) -> Response:
        request_id = getattr(request.state, "request_id", None)
        logger.exception("unhandled error in %s %s (request %s)", request.method, request.url.path, request_id)
        # This handler runs outside the other middleware, so it sets the request id and the security
        # headers itself.
        response = respond(
            request,
            SoberanaError(
                f"Internal error. Report request id {request_id} to your administrator.",
                code="internal_error",
                headers={"x-request-id": request_id} if request_id else None,
            ),
        )
        for name, value in security_headers(hsts=request.url.scheme == "https").items():
            response.headers.setdefault(name, value)
        return response

"""The one place where exceptions become HTTP responses.

Every error body has the OpenAI shape ``{"error": {"message", "type", "code", "param"}}``. Nothing
but the message chosen here reaches the client: unexpected exceptions are logged with their
traceback and answered with a generic 500 carrying the request id.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from soberana.errors import (
    InvalidRequest,
    MalformedJSON,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    SoberanaError,
    ValidationFailed,
    describe_validation_errors,
)

logger = logging.getLogger("soberana.web")

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

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception) -> Response:
        request_id = getattr(request.state, "request_id", None)
        logger.exception("unhandled error in %s %s (request %s)", request.method, request.url.path, request_id)
        # This handler runs outside the other middleware, so it sets the request-id header itself.
        return respond(
            request,
            SoberanaError(
                f"Internal error. Report request id {request_id} to your administrator.",
                code="internal_error",
                headers={"x-request-id": request_id} if request_id else None,
            ),
        )

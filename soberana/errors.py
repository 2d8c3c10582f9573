"""The one exception hierarchy of Soberana.

Every error a client can cause or see is a :class:`SoberanaError`. Each class carries the HTTP
status, the OpenAI-style error ``type`` and a default machine-readable ``code``; the web layer maps
them to responses in one place (:mod:`soberana.web.errors`), so a route never builds an error body
by hand and no stack trace ever reaches a client.

::

    SoberanaError                    500 server_error
    ├── InvalidRequest               400 invalid_request_error
    │   ├── MalformedJSON            400 invalid_json
    │   ├── PersonalDataRefused      400 personal_data_blocked (names the kinds found, never values)
    │   ├── ValidationFailed         422 validation_error
    │   └── InvalidId                400 invalid_id
    ├── AuthenticationFailed         401 authentication_error
    │   ├── MissingCredentials       401 missing_api_key
    │   ├── InvalidApiKey            401 invalid_api_key
    │   ├── ExpiredApiKey            401 expired_api_key
    │   ├── RevokedApiKey            401 revoked_api_key
    │   └── InvalidCredentials       401 invalid_credentials
    ├── PermissionDenied             403 permission_error
    │   ├── ClassificationNotPermitted 403 classification_not_permitted (no deployment may see the data)
    │   └── UseCaseRefused           403 use_case_* / model_not_approved (the register does not allow it)
    ├── NotFound                     404 not_found_error
    │   └── ModelNotFound            404 model_not_found
    ├── MethodNotAllowed             405 method_not_allowed
    ├── Conflict                     409 conflict_error
    ├── PayloadTooLarge              413 request_too_large
    ├── RateLimited                  429 rate_limit_error
    │   └── QuotaExceeded            429 quota_exceeded (with Retry-After)
    ├── ConfigurationError           500 configuration_error (refuses to start; never a response)
    ├── UpstreamFailed               502 upstream_error (names the deployment)
    │   ├── UpstreamUnavailable      502 upstream_unavailable
    │   └── UpstreamTimeout          504 upstream_timeout
    └── ServiceUnavailable           503 service_unavailable
        └── Overloaded               503 overloaded (shed by priority; with Retry-After)
"""

from __future__ import annotations

from typing import Any, ClassVar


class SoberanaError(Exception):
    """Base class. ``message`` is safe to show to the client; never put a secret in it."""

    status_code: ClassVar[int] = 500
    error_type: ClassVar[str] = "server_error"
    default_code: ClassVar[str] = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.param = param
        self.headers = headers or {}
        self.details = details

    def to_json(self) -> bytes:
        """:meth:`to_dict` as JSON bytes."""
        import json

        return json.dumps(self.to_dict(), ensure_ascii=False).encode("utf-8")

    def to_dict(self) -> dict[str, Any]:
        """The OpenAI-shaped body: ``{"error": {"message", "type", "code", "param"}}``."""
        error: dict[str, Any] = {
            "message": self.message,
            "type": self.error_type,
            "code": self.code,
            "param": self.param,
        }
        if self.details:
            error["details"] = self.details
        return {"error": error}


class InvalidRequest(SoberanaError):
    status_code = 400
    error_type = "invalid_request_error"
    default_code = "invalid_request"


class MalformedJSON(InvalidRequest):
    default_code = "invalid_json"


class PersonalDataRefused(InvalidRequest):
    """The data-protection policy blocks requests holding personal data (the message names the kinds, never values)."""

    default_code = "personal_data_blocked"


class ValidationFailed(InvalidRequest):
    status_code = 422
    default_code = "validation_error"


class InvalidId(InvalidRequest):
    default_code = "invalid_id"


class AuthenticationFailed(SoberanaError):
    status_code = 401
    error_type = "authentication_error"
    default_code = "authentication_failed"

    def __init__(self, message: str, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(message, **kwargs)


class MissingCredentials(AuthenticationFailed):
    default_code = "missing_api_key"


class InvalidApiKey(AuthenticationFailed):
    default_code = "invalid_api_key"


class ExpiredApiKey(AuthenticationFailed):
    default_code = "expired_api_key"


class RevokedApiKey(AuthenticationFailed):
    default_code = "revoked_api_key"


class InvalidCredentials(AuthenticationFailed):
    default_code = "invalid_credentials"


class PermissionDenied(SoberanaError):
    status_code = 403
    error_type = "permission_error"
    default_code = "permission_denied"


class ClassificationNotPermitted(PermissionDenied):
    """No deployment of the model may receive data of the request's classification."""

    default_code = "classification_not_permitted"


class UseCaseRefused(PermissionDenied):
    """The register of AI use cases does not allow this traffic (run-time enforcement): the key or the
    assistant is bound to no use case, or to one that is not approved, suspended, retired, prohibited,
    overdue for review, or that was not approved for the model asked for. ``code`` says which."""

    default_code = "use_case_not_approved"


class TrainingRequired(PermissionDenied):
    """The person has not completed (or no longer holds) a course the installation requires before they use
    models; the message names the course and where to take it."""

    default_code = "training_required"


class NotFound(SoberanaError):
    status_code = 404
    error_type = "not_found_error"
    default_code = "not_found"


class ModelNotFound(NotFound):
    default_code = "model_not_found"


class MethodNotAllowed(SoberanaError):
    status_code = 405
    error_type = "invalid_request_error"
    default_code = "method_not_allowed"


class Conflict(SoberanaError):
    status_code = 409
    error_type = "conflict_error"
    default_code = "conflict"


class PayloadTooLarge(SoberanaError):
    status_code = 413
    error_type = "invalid_request_error"
    default_code = "request_too_large"


class RateLimited(SoberanaError):
    status_code = 429
    error_type = "rate_limit_error"
    default_code = "rate_limit_exceeded"


class QuotaExceeded(RateLimited):
    """A quota or budget of the organisation or key is used up; ``retry_after`` seconds until it frees."""

    default_code = "quota_exceeded"

    def __init__(self, message: str, *, retry_after: float, **kwargs: Any) -> None:
        self.retry_after = max(1, int(retry_after + 0.999))
        kwargs.setdefault("headers", {"Retry-After": str(self.retry_after)})
        super().__init__(message, **kwargs)


class ConfigurationError(SoberanaError):
    """The configuration is unsafe or inconsistent; raised at start-up, never sent to a client."""

    default_code = "configuration_error"


class ServiceUnavailable(SoberanaError):
    status_code = 503
    error_type = "server_error"
    default_code = "service_unavailable"


class Overloaded(ServiceUnavailable):
    """Shed under overload: the deployment is full and this request's priority class gave way."""

    default_code = "overloaded"

    def __init__(self, message: str, *, retry_after: float = 1, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"Retry-After": str(max(1, int(retry_after + 0.999)))})
        super().__init__(message, **kwargs)


class UpstreamFailed(SoberanaError):
    """An upstream model API answered with an error, after retries and fallback."""

    status_code = 502
    error_type = "upstream_error"
    default_code = "upstream_error"


class UpstreamUnavailable(UpstreamFailed):
    default_code = "upstream_unavailable"


class UpstreamTimeout(UpstreamFailed):
    status_code = 504
    default_code = "upstream_timeout"


def describe_validation_errors(errors: list[dict[str, Any]]) -> tuple[str, str | None, list[dict[str, Any]]]:
    """One clear message (first problem first), its parameter, and every problem, from pydantic errors."""
    details = []
    for error in errors:
        loc = [str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path", "header", "cookie")]
        where = ".".join(loc)
        kind = error.get("type", "")
        if kind == "extra_forbidden":
            message = f"Unknown field '{where}'."
        elif kind == "missing":
            message = f"Missing required field '{where}'."
        elif kind in ("model_attributes_type", "dict_type", "model_type"):
            message = f"'{where}' must be an object." if where else "The request body must be a JSON object."
        else:
            message = f"Invalid value for '{where}': {error.get('msg', 'invalid')}." if where else str(error.get("msg"))
        details.append({"param": where or None, "message": message, "type": kind})
    if not details:
        return "Invalid request.", None, []
    more = len(details) - 1
    extra = f" ({more} more problem{'s' if more > 1 else ''} in 'details')" if more else ""
    return str(details[0]["message"]) + extra, details[0]["param"], details


def require_id(value: str, prefix: str, noun: str, *, param: str | None = None) -> str:
    """Return ``value`` if it is a well-formed ``prefix_…`` identifier, else raise :class:`InvalidId`."""
    from soberana.core.ids import parse_id

    if parse_id(value, prefix) is None:
        shown = value if len(value) <= 64 else value[:61] + "..."
        raise InvalidId(
            f"{shown!r} is not a valid {noun} id (expected '{prefix}_' followed by 26 letters and digits).",
            param=param,
        )
    return value

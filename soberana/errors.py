"""The one exception hierarchy of Soberana.

Every error a client can cause or see is a :class:`SoberanaError`. Each class carries the HTTP
status, the OpenAI-style error ``type`` and a default machine-readable ``code``; the web layer maps
them to responses in one place (:mod:`soberana.web.errors`), so a route never builds an error body
by hand and no stack trace ever reaches a client.

::

    SoberanaError                    500 server_error
    ├── InvalidRequest               400 invalid_request_error
    │   ├── MalformedJSON            400 invalid_json
    │   ├── ValidationFailed         422 validation_error
    │   └── InvalidId                400 invalid_id
    ├── AuthenticationFailed         401 authentication_error
    │   ├── MissingCredentials       401 missing_api_key
    │   ├── InvalidApiKey            401 invalid_api_key
    │   ├── ExpiredApiKey            401 expired_api_key
    │   ├── RevokedApiKey            401 revoked_api_key
    │   └── InvalidCredentials       401 invalid_credentials
    ├── PermissionDenied             403 permission_error
    ├── NotFound                     404 not_found_error
    ├── MethodNotAllowed             405 method_not_allowed
    ├── Conflict                     409 conflict_error
    ├── PayloadTooLarge              413 request_too_large
    ├── RateLimited                  429 rate_limit_error
    ├── ConfigurationError           500 configuration_error (refuses to start; never a response)
    └── ServiceUnavailable           503 service_unavailable
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


class NotFound(SoberanaError):
    status_code = 404
    error_type = "not_found_error"
    default_code = "not_found"


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


class ConfigurationError(SoberanaError):
    """The configuration is unsafe or inconsistent; raised at start-up, never sent to a client."""

    default_code = "configuration_error"


class ServiceUnavailable(SoberanaError):
    status_code = 503
    error_type = "server_error"
    default_code = "service_unavailable"


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

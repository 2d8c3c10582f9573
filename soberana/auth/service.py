"""The administration of organisations, people, service accounts and API keys, as one service.

:class:`AdminService` joins the parts, one module each: :mod:`~soberana.auth.organisations`,
:mod:`~soberana.auth.people` and :mod:`~soberana.auth.key_admin`, on the tenancy rules of
:mod:`~soberana.auth.tenancy` (what a principal may see; every change audit-logged in its own
transaction). Authentication is :mod:`~soberana.auth.authentication`.
"""

from __future__ import annotations

from soberana.audit.service import AuditLog
from soberana.auth.key_admin import KeyAdmin
from soberana.auth.organisations import OrganisationAdmin
from soberana.auth.people import PeopleAdmin
from soberana.settings import Settings


class AdminService(OrganisationAdmin, PeopleAdmin, KeyAdmin):
    """Organisations, users, service accounts and API keys, always within the caller's scope."""

    @classmethod
    def from_settings(cls, settings: Settings, audit: AuditLog) -> AdminService:
        return cls(
            audit,
            secret=settings.secret_key_bytes,
            key_default_ttl_days=settings.api_key_default_ttl_days,
            key_max_ttl_days=settings.api_key_max_ttl_days,
        )

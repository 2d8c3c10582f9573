"""Roles, scopes, the authenticated principal a request or command acts as, and where it came from."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

from soberana.audit.schemas import Actor, AuditEvent, Outcome
from soberana.errors import PermissionDenied


class Role(StrEnum):
    """What a person or service account may do, in its organisation and the organisations below it."""

    PLATFORM_ADMIN = "platform_admin"  # runs the installation: every organisation
    ORG_ADMIN = "org_admin"  # manages its organisation and the ones nested under it
    STAFF = "staff"  # uses the platform
    AUDITOR = "auditor"  # reads the audit log of its organisation and the ones below


class Scope(StrEnum):
    """What one API key may be used for; never more than its owner's role allows."""

    ADMIN = "admin"  # the /admin API: organisations, users, service accounts, keys
    AUDIT = "audit"  # read, verify and export the audit log
    INFERENCE = "inference"  # the /v1 model API, search and answers
    KNOWLEDGE = "knowledge"  # create collections, upload and delete documents
    GOVERNANCE = "governance"  # the register of AI use cases: read, propose, review


ROLE_SCOPES: dict[Role, frozenset[Scope]] = {
    Role.PLATFORM_ADMIN: frozenset(Scope),
    Role.ORG_ADMIN: frozenset(Scope),
    Role.AUDITOR: frozenset({Scope.AUDIT, Scope.INFERENCE, Scope.GOVERNANCE}),  # the register: read only
    Role.STAFF: frozenset({Scope.INFERENCE, Scope.KNOWLEDGE, Scope.GOVERNANCE}),
}

ADMIN_ROLES = frozenset({Role.PLATFORM_ADMIN, Role.ORG_ADMIN})
AUDIT_ROLES = frozenset({Role.PLATFORM_ADMIN, Role.ORG_ADMIN, Role.AUDITOR})

# Who may hold a key with each scope, for the message of a refusal.
_HOLDERS = {
    Scope.ADMIN: "an administrator's key",
    Scope.AUDIT: "an auditor's or administrator's key",
    Scope.INFERENCE: "a key allowed to call models",
    Scope.KNOWLEDGE: "a staff member's or administrator's key",
    Scope.GOVERNANCE: "a key allowed to use the register of AI use cases",
}


@dataclass(frozen=True)
class Origin:
    """Where a request came from, for the audit log and per-address limits."""

    ip: str | None = None
    request_id: str | None = None


@dataclass(frozen=True)
class Principal:
    """Who is acting. ``org_id`` is ``None`` only for the command line acting as the operator."""

    kind: Literal["user", "service_account", "cli", "system"]
    id: str
    label: str
    org_id: str | None
    role: Role
    scopes: frozenset[Scope]
    key_id: str | None = None
    priority: str = "interactive"  # the key's priority class on the model gateway
    org_slug: str | None = None
    acting_for: str | None = None  # the platform acting for something of the organisation (a public assistant)

    @property
    def is_platform_admin(self) -> bool:
        return self.role is Role.PLATFORM_ADMIN

    def can(self, scope: Scope) -> bool:
        return scope in self.scopes and scope in ROLE_SCOPES[self.role]

    def require(self, scope: Scope, action: str = "This") -> None:
        """Refuse (403 ``insufficient_scope``) unless this principal may use ``scope``; ``action`` names
        what was attempted, e.g. ``"Changing collections"``."""
        if not self.can(scope):
            raise PermissionDenied(
                f"{action} needs the '{scope}' scope, on {_HOLDERS[scope]}.", code="insufficient_scope"
            )

    def actor(self) -> Actor:
        return Actor(type=self.kind, id=self.id, label=self.label)

    def event(
        self,
        action: str,
        origin: Origin,
        *,
        org_id: str | None,
        object_type: str | None = None,
        object_id: str | None = None,
        details: dict[str, Any] | None = None,
        outcome: Outcome = Outcome.SUCCESS,
    ) -> AuditEvent:
        """The audit event for something this principal did, from ``origin``."""
        return AuditEvent(
            action=action,
            actor=self.actor(),
            outcome=outcome,
            org_id=org_id,
            object_type=object_type,
            object_id=object_id,
            details=details or {},
            ip=origin.ip,
            request_id=origin.request_id,
        )


def cli_principal(os_user: str) -> Principal:
    """The operator at the server's command line: full rights, recorded under their OS user name."""
    return Principal(
        kind="cli", id=f"cli:{os_user}", label=os_user, org_id=None, role=Role.PLATFORM_ADMIN, scopes=frozenset(Scope)
    )


def system_principal(org_id: str, org_slug: str | None, purpose: str, acting_for: str | None = None) -> Principal:
    """Soberana acting for an organisation by itself — indexing its documents in the background,
    answering an anonymous citizen on its public assistant (``acting_for``: the collection). Metered to that
    organisation; it may only call models."""
    return Principal(
        kind="system",
        id=f"system:{purpose}",
        label=purpose,
        org_id=org_id,
        role=Role.STAFF,
        scopes=frozenset({Scope.INFERENCE}),
        org_slug=org_slug,
        acting_for=acting_for,
    )

"""Audit events as they enter the log and as the API returns them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict


class Outcome(StrEnum):
    SUCCESS = "success"
    DENIED = "denied"
    FAILURE = "failure"


@dataclass(frozen=True)
class Actor:
    """Who acted: a user, a service account, the command line, the system itself or nobody known."""

    type: Literal["user", "service_account", "cli", "system", "anonymous"]
    id: str | None = None
    label: str | None = None


SYSTEM_ACTOR = Actor(type="system", id="soberana", label="Soberana")
ANONYMOUS = Actor(type="anonymous")


@dataclass(frozen=True)
class AuditEvent:
    """One thing worth recording. ``details`` must never hold a secret or a personal-data payload."""

    action: str
    actor: Actor
    outcome: Outcome = Outcome.SUCCESS
    org_id: str | None = None
    object_type: str | None = None
    object_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    ip: str | None = None
    request_id: str | None = None


class AuditEntryOut(BaseModel):
    """An audit-log entry as the API and the JSON Lines export show it."""

    model_config = ConfigDict(from_attributes=True)

    object: Literal["audit_entry"] = "audit_entry"
    seq: int
    occurred_at: datetime
    org_id: str | None
    actor_type: str
    actor_id: str | None
    actor_label: str | None
    action: str
    object_type: str | None
    object_id: str | None
    outcome: str
    ip: str | None
    request_id: str | None
    details: dict[str, Any]
    prev_hash: str
    hash: str
    signature: str


class AuditList(BaseModel):
    object: Literal["list"] = "list"
    data: list[AuditEntryOut]
    has_more: bool


class VerificationResult(BaseModel):
    """What `verify` found: ``ok`` and, when not, the first broken entry and why."""

    ok: bool
    entries_checked: int
    head_seq: int
    head_hash: str
    first_broken_seq: int | None = None
    problem: str | None = None


@dataclass(frozen=True)
class AuditAccess:
    """What a caller may do with the audit log; supplied by the authentication layer above."""

    org_ids: frozenset[str] | None  # organisations whose entries are visible; None: all
    actor: Actor
    org_id: str | None
    whole_log: bool  # may verify the whole chain (platform administrators)

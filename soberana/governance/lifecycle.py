"""The life of a use case, as rules with no storage: states, the actions that move between them, and who
may take each action.

::

    draft ──submit──▶ in_review ──approve──▶ approved ──go_live──▶ live
      ▲                  │                      │                   │
      └─────return───────┘                      └──suspend──▶ suspended ◀┘
                                                               │  ──resume──▶ live
    any state but retired ──retire──▶ retired

A use case that has been approved keeps running on its approved version while a change to it is written
and reviewed: a change is a new version, submitted for review beside the running one (the state stays
``approved``, ``live`` or ``suspended``), and its approval pins the new version.

Approval is four-eyes: the approver neither submitted the version nor wrote any version since the one
approved before; use cases are kept by people (a service account changes none, so that no one passes for
two). Who may approve depends on the risk outcome: a use case that is high-risk, or not assessed yet, needs
a platform administrator or an administrator of an organisation above its own; a lower risk needs an
administrator of its organisation or one above. A prohibited practice is never approved.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from soberana.auth.principal import ADMIN_ROLES, Principal, Role


class Status(StrEnum):
    DRAFT = "draft"
    IN_REVIEW = "in_review"
    APPROVED = "approved"
    LIVE = "live"
    SUSPENDED = "suspended"
    RETIRED = "retired"


class RiskGroup(StrEnum):
    """The EU AI Act risk group of a use case, as its assessment concludes."""

    UNASSESSED = "unassessed"
    PROHIBITED = "prohibited"  # Art. 5
    HIGH_RISK = "high_risk"  # Art. 6 and Annex III
    TRANSPARENCY = "transparency"  # not high-risk, with Art. 50 obligations
    MINIMAL = "minimal"  # not high-risk, no specific obligations


class Action(StrEnum):
    SUBMIT = "submit"
    WITHDRAW = "withdraw"  # the submitter takes a version back from review
    RETURN = "return"
    APPROVE = "approve"
    GO_LIVE = "go_live"
    SUSPEND = "suspend"
    RESUME = "resume"
    RETIRE = "retire"


#: The states in which a use case may be changed (a new version).
EDITABLE = frozenset({Status.DRAFT, Status.APPROVED, Status.LIVE, Status.SUSPENDED})
#: The states whose approved version may serve traffic (run-time enforcement reads this).
RUNNING = frozenset({Status.APPROVED, Status.LIVE})
#: Actions that need a reason, kept in the audit log and on the use case.
NEEDS_REASON = frozenset({Action.RETURN, Action.SUSPEND, Action.RESUME, Action.RETIRE})

# the states each action starts from, and the state it leads to (None: the state does not change)
_MOVES: dict[Action, tuple[frozenset[Status], Status | None]] = {
    Action.SUBMIT: (EDITABLE, None),
    Action.WITHDRAW: (frozenset({Status.IN_REVIEW, *EDITABLE}), None),
    Action.RETURN: (frozenset({Status.IN_REVIEW, *EDITABLE}), None),
    Action.APPROVE: (frozenset({Status.IN_REVIEW, Status.APPROVED, Status.LIVE, Status.SUSPENDED}), None),
    Action.GO_LIVE: (frozenset({Status.APPROVED}), Status.LIVE),
    Action.SUSPEND: (RUNNING, Status.SUSPENDED),
    Action.RESUME: (frozenset({Status.SUSPENDED}), None),  # to the state it was suspended from
    Action.RETIRE: (frozenset(Status) - {Status.RETIRED}, Status.RETIRED),
}


@dataclass(frozen=True)
class Situation:
    """What the rules need to know of a use case."""

    status: Status
    risk_group: RiskGroup
    version: int
    approved_version: int | None
    submitted_version: int | None
    submitted_by: str | None
    authors: frozenset[str] = frozenset()  # who wrote the versions since the approved one, up to the submitted
    assessment_author: str | None = None  # who wrote the assessment the risk group comes from
    suspended_from: Status | None = None


class Refusal(Exception):
    """An action the rules do not allow; ``code`` says which rule."""

    def __init__(self, message: str, code: str, *, permission: bool = False) -> None:
        super().__init__(message)
        self.message, self.code, self.permission = message, code, permission


def next_status(action: Action, situation: Situation) -> Status:
    """The state ``action`` leads to from ``situation``, or :class:`Refusal`."""
    sources, target = _MOVES[action]
    if situation.status not in sources:
        raise Refusal(f"A use case that is {situation.status.value} cannot be {_PAST[action]}.", "invalid_transition")
    pending = situation.submitted_version is not None
    if action is Action.SUBMIT:
        if pending:
            raise Refusal(f"Version {situation.submitted_version} is in review already.", "already_in_review")
        if situation.approved_version == situation.version:
            raise Refusal("This version is approved already; change the use case first.", "nothing_to_review")
        return Status.IN_REVIEW if situation.status is Status.DRAFT else situation.status
    if action in (Action.RETURN, Action.WITHDRAW, Action.APPROVE) and not pending:
        raise Refusal("No version of this use case is in review.", "not_in_review")
    if action in (Action.RETURN, Action.WITHDRAW):
        return Status.DRAFT if situation.status is Status.IN_REVIEW else situation.status
    if action in (Action.APPROVE, Action.GO_LIVE, Action.RESUME) and situation.risk_group is RiskGroup.PROHIBITED:
        raise Refusal("A prohibited AI practice (EU AI Act, Art. 5) cannot run.", "prohibited_practice")
    if action is Action.APPROVE:
        return Status.APPROVED if situation.status is Status.IN_REVIEW else situation.status
    if action is Action.RESUME:
        return situation.suspended_from or Status.LIVE
    assert target is not None
    return target


_PAST = {
    Action.SUBMIT: "submitted for review",
    Action.WITHDRAW: "withdrawn from review",
    Action.RETURN: "returned",
    Action.APPROVE: "approved",
    Action.GO_LIVE: "put live",
    Action.SUSPEND: "suspended",
    Action.RESUME: "resumed",
    Action.RETIRE: "retired",
}


def check_actor(action: Action, situation: Situation, actor: Principal, org_chain: list[str]) -> None:
    """Refuse (``permission=True``) unless ``actor`` may take ``action``. ``org_chain`` is the use case's
    organisation and those above it, nearest first."""
    if actor.role is Role.AUDITOR:
        raise Refusal("Auditors read the register; they do not change it.", "read_only", permission=True)
    if actor.kind not in ("user", "cli"):
        raise Refusal(
            "The register is kept by people: a service account reports incidents, it does not change use cases.",
            "person_required",
            permission=True,
        )
    if action is Action.WITHDRAW:
        if actor.id != situation.submitted_by:
            raise Refusal("Only the person who submitted a version withdraws it.", "not_submitter", permission=True)
        return
    if action in (Action.SUBMIT, Action.GO_LIVE):
        return  # whoever may change the use case
    if action in (Action.SUSPEND, Action.RETIRE):
        if not _administers(actor, org_chain):
            raise Refusal(
                f"Only an administrator of the organisation or one above it may {action.value} a use case.",
                "approver_required",
                permission=True,
            )
        return
    # approve, return and resume are a reviewer's decisions
    strict = situation.risk_group in (RiskGroup.HIGH_RISK, RiskGroup.UNASSESSED)
    if not _administers(actor, org_chain[1:] if strict else org_chain):
        who = (
            "a platform administrator or an administrator of an organisation above this one"
            if strict
            else "an administrator of this organisation or one above it"
        )
        raise Refusal(
            f"A use case whose risk is {situation.risk_group.value.replace('_', ' ')} is reviewed by {who}.",
            "approver_required",
            permission=True,
        )
    if action is Action.APPROVE and not strict and actor.id == situation.assessment_author:
        raise Refusal(
            "Four eyes: whoever wrote the assessment that lowers the risk cannot approve on it.",
            "four_eyes",
            permission=True,
        )
    if action is Action.APPROVE and actor.id in {situation.submitted_by, *situation.authors}:
        raise Refusal(
            "Four eyes: whoever wrote a version since the approved one, or submitted it, cannot approve it.",
            "four_eyes",
            permission=True,
        )


def _administers(actor: Principal, org_ids: list[str]) -> bool:
    if actor.is_platform_admin:
        return True
    return actor.role in ADMIN_ROLES and actor.org_id is not None and actor.org_id in org_ids

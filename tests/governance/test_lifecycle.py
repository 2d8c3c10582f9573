"""The lifecycle rules alone: which action leads where, and who may take it."""

from __future__ import annotations

import dataclasses

import pytest

from soberana.auth.principal import Principal, Role, Scope, cli_principal
from soberana.governance.lifecycle import Action, Refusal, RiskGroup, Situation, Status, check_actor, next_status

DRAFT = Situation(Status.DRAFT, RiskGroup.UNASSESSED, 1, None, None, None)
IN_REVIEW = dataclasses.replace(
    DRAFT, status=Status.IN_REVIEW, submitted_version=1, submitted_by="usr_w", authors=frozenset({"usr_w"})
)
CHAIN = ["org_agency", "org_ministry"]  # the use case's organisation, then the one above


def person(role: Role, org: str, uid: str = "usr_x", kind: str = "user") -> Principal:
    return Principal(kind=kind, id=uid, label=uid, org_id=org, role=role, scopes=frozenset({Scope.GOVERNANCE}))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("situation", "action", "target"),
    [
        (DRAFT, Action.SUBMIT, Status.IN_REVIEW),
        (IN_REVIEW, Action.RETURN, Status.DRAFT),
        (IN_REVIEW, Action.APPROVE, Status.APPROVED),
        (dataclasses.replace(DRAFT, status=Status.APPROVED, approved_version=1), Action.GO_LIVE, Status.LIVE),
        (dataclasses.replace(DRAFT, status=Status.LIVE, approved_version=1), Action.SUSPEND, Status.SUSPENDED),
        (dataclasses.replace(DRAFT, status=Status.SUSPENDED, approved_version=1), Action.RESUME, Status.LIVE),
        (
            dataclasses.replace(DRAFT, status=Status.SUSPENDED, approved_version=1, suspended_from=Status.APPROVED),
            Action.RESUME,
            Status.APPROVED,
        ),
        (IN_REVIEW, Action.WITHDRAW, Status.DRAFT),
        (IN_REVIEW, Action.RETIRE, Status.RETIRED),
        # a change to a live use case is reviewed while it keeps running
        (dataclasses.replace(DRAFT, status=Status.LIVE, version=2, approved_version=1), Action.SUBMIT, Status.LIVE),
        (
            dataclasses.replace(IN_REVIEW, status=Status.LIVE, version=2, approved_version=1, submitted_version=2),
            Action.APPROVE,
            Status.LIVE,
        ),
    ],
)
def test_each_action_leads_to_its_state(situation: Situation, action: Action, target: Status) -> None:
    assert next_status(action, situation) is target


@pytest.mark.parametrize(
    ("situation", "action", "code"),
    [
        (DRAFT, Action.GO_LIVE, "invalid_transition"),
        (DRAFT, Action.APPROVE, "invalid_transition"),
        (DRAFT, Action.RESUME, "invalid_transition"),
        (IN_REVIEW, Action.SUBMIT, "invalid_transition"),
        (dataclasses.replace(DRAFT, status=Status.RETIRED), Action.RETIRE, "invalid_transition"),
        (dataclasses.replace(DRAFT, status=Status.LIVE, approved_version=1), Action.SUBMIT, "nothing_to_review"),
        (dataclasses.replace(DRAFT, status=Status.LIVE, approved_version=1), Action.APPROVE, "not_in_review"),
        (dataclasses.replace(IN_REVIEW, risk_group=RiskGroup.PROHIBITED), Action.APPROVE, "prohibited_practice"),
        (
            dataclasses.replace(DRAFT, status=Status.APPROVED, approved_version=1, risk_group=RiskGroup.PROHIBITED),
            Action.GO_LIVE,
            "prohibited_practice",
        ),
        (
            dataclasses.replace(DRAFT, status=Status.SUSPENDED, approved_version=1, risk_group=RiskGroup.PROHIBITED),
            Action.RESUME,
            "prohibited_practice",
        ),
    ],
)
def test_what_the_state_does_not_allow_is_refused(situation: Situation, action: Action, code: str) -> None:
    with pytest.raises(Refusal) as refused:
        next_status(action, situation)
    assert refused.value.code == code


@pytest.mark.parametrize(
    ("risk", "actor", "allowed"),
    [
        (RiskGroup.UNASSESSED, person(Role.ORG_ADMIN, "org_agency"), False),
        (RiskGroup.HIGH_RISK, person(Role.ORG_ADMIN, "org_agency"), False),
        (RiskGroup.HIGH_RISK, person(Role.ORG_ADMIN, "org_ministry"), True),
        (RiskGroup.HIGH_RISK, cli_principal("operator"), True),
        (RiskGroup.MINIMAL, person(Role.ORG_ADMIN, "org_agency"), True),
        (RiskGroup.TRANSPARENCY, person(Role.ORG_ADMIN, "org_ministry"), True),
        (RiskGroup.MINIMAL, person(Role.ORG_ADMIN, "org_elsewhere"), False),
        (RiskGroup.MINIMAL, person(Role.STAFF, "org_agency"), False),
        (RiskGroup.MINIMAL, person(Role.ORG_ADMIN, "org_agency", kind="service_account"), False),
    ],
)
def test_who_may_approve_depends_on_the_risk(risk: RiskGroup, actor: Principal, allowed: bool) -> None:
    situation = dataclasses.replace(IN_REVIEW, risk_group=risk)
    if allowed:
        check_actor(Action.APPROVE, situation, actor, CHAIN)
    else:
        with pytest.raises(Refusal) as refused:
            check_actor(Action.APPROVE, situation, actor, CHAIN)
        assert refused.value.permission


def test_the_author_or_submitter_never_approves() -> None:
    minimal = dataclasses.replace(
        IN_REVIEW, risk_group=RiskGroup.MINIMAL, submitted_by="usr_s", authors=frozenset({"usr_a", "usr_b"})
    )
    for uid in ("usr_s", "usr_a", "usr_b"):  # the submitter, and whoever wrote any version since the approved one
        with pytest.raises(Refusal) as refused:
            check_actor(Action.APPROVE, minimal, person(Role.ORG_ADMIN, "org_agency", uid), CHAIN)
        assert refused.value.code == "four_eyes"
    check_actor(Action.APPROVE, minimal, person(Role.ORG_ADMIN, "org_agency", "usr_other"), CHAIN)
    # submitting and putting live are for whoever may change the use case; auditors change nothing
    check_actor(Action.SUBMIT, DRAFT, person(Role.STAFF, "org_agency"), CHAIN)
    with pytest.raises(Refusal):
        check_actor(Action.SUBMIT, DRAFT, person(Role.AUDITOR, "org_agency"), CHAIN)
    # a service account keeps no use case: no one passes for two people at a review
    with pytest.raises(Refusal) as robot:
        check_actor(Action.SUBMIT, DRAFT, person(Role.ORG_ADMIN, "org_agency", kind="service_account"), CHAIN)
    assert robot.value.code == "person_required"
    # only the submitter withdraws
    with pytest.raises(Refusal) as other:
        check_actor(Action.WITHDRAW, IN_REVIEW, person(Role.ORG_ADMIN, "org_ministry", "usr_x"), CHAIN)
    assert other.value.code == "not_submitter"
    check_actor(Action.WITHDRAW, IN_REVIEW, person(Role.STAFF, "org_agency", "usr_w"), CHAIN)

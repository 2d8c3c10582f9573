"""The requirements an AI use case must meet, as data (``trees/requirements.yaml``, checked against
``trees/requirements.schema.json``), in English, Spanish and Icelandic, with the evidence the platform
can compute for some of them. No storage: the service keeps each requirement's manual state.

Which requirements apply is a rule over a flat dict of labels (:data:`LABELS`), written in a small
declarative language (``always``, ``all``, ``any``, ``not``, ``label`` with ``in``, ``is``, ``at_least`` or
``at_most``) and evaluated here, without ``eval``.

Fail safe: a label that is missing, ``None`` or of the wrong kind is *unknown*, and so are ``risk_group``,
``role`` and ``transparency`` while the EU AI Act assessment has not been made (``risk_group`` is
``unassessed``). A test of an unknown label is neither true nor false; ``all``, ``any`` and ``not`` follow
three-valued (Kleene) logic, and a requirement applies unless its rule is certainly false, so an
unassessed use case gets every requirement that could apply to it. ``aia_level`` 0 (no Algorithmic
Impact Assessment on record) is a known value: no level-based requirement applies to it.

A machine check (:data:`CHECKS`) turns the facts a service collects (:class:`Evidence`) into ``holds``,
``fails`` or ``unknown``; :func:`effective_state` combines it with the manual state.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import jsonschema
import yaml

from soberana.errors import ConfigurationError
from soberana.governance.lifecycle import RiskGroup

TREES = Path(__file__).resolve().parent / "trees"
CATALOGUE = TREES / "requirements.yaml"
SCHEMA = TREES / "requirements.schema.json"
LANGUAGES = ("en", "es", "is")
SOURCES = frozenset({"eu_ai_act", "gdpr", "aia"})

#: Labels holding one name (or, for ``transparency``, a list of names), and the names each may hold.
CHOICE_LABELS: Mapping[str, frozenset[str]] = {
    "risk_group": frozenset(group.value for group in RiskGroup),
    "role": frozenset({"provider", "deployer", "provider_and_deployer", "none"}),
    "transparency": frozenset({"interaction", "synthetic_content", "emotion_or_biometric", "deepfake_or_public_text"}),
}
FLAG_LABELS = frozenset({"public_body", "special_categories", "profiling"})
LEVEL_LABEL = "aia_level"  # 0 (no AIA on record) to 4
MAX_LEVEL = 4
LABELS = frozenset({*CHOICE_LABELS, *FLAG_LABELS, LEVEL_LABEL})
#: Labels the EU AI Act assessment gives: unknown while the use case is unassessed.
ASSESSMENT_LABELS = ("risk_group", "role", "transparency")

#: Art. 26(6): at least six months of logs.
MIN_LOG_RETENTION_DAYS = 183
PROTECTING_MODES: Mapping[str, str] = {
    "pseudonymise": "replaced by placeholders before they reach a model",
    "redact": "removed before they reach a model",
    "block": "refused: a request that carries them is not sent to a model",
}
WEAK_MODES: Mapping[str, str] = {"off": "not looked for", "detect": "detected and recorded but sent on unchanged"}
MANUAL_STATES = frozenset({"to_do", "in_progress", "done", "not_applicable"})

Text = Mapping[str, str]
CheckState = Literal["holds", "fails", "unknown"]


class CatalogueError(ConfigurationError):
    """A catalogue of requirements that does not hold together."""


# -- the rule language --------------------------------------------------------------------------------


# {always: true}; {all: [...]}; {any: [...]}; {not: ...}; {label: L, in: [...]} (the label's value, or for
# a list label one of its values, is one of these); {label: L, is: true|false}; {label: aia_level,
# at_least: N} or at_most (exactly one bound set).
@dataclass(frozen=True)
class Always:
    pass


@dataclass(frozen=True)
class AllOf:
    parts: tuple[Condition, ...]


@dataclass(frozen=True)
class AnyOf:
    parts: tuple[Condition, ...]


@dataclass(frozen=True)
class Not:
    part: Condition


@dataclass(frozen=True)
class InSet:
    label: str
    values: frozenset[str]


@dataclass(frozen=True)
class Is:
    label: str
    value: bool


@dataclass(frozen=True)
class Level:
    label: str
    at_least: int | None = None
    at_most: int | None = None


Condition = Always | AllOf | AnyOf | Not | InSet | Is | Level


def _condition(raw: Mapping[str, Any], where: str) -> Condition:
    """A rule from its YAML form (already valid against the schema; checked again for clear errors)."""
    if "always" in raw:
        return Always()
    if "all" in raw:
        return AllOf(tuple(_condition(part, f"{where}/all/{i}") for i, part in enumerate(raw["all"])))
    if "any" in raw:
        return AnyOf(tuple(_condition(part, f"{where}/any/{i}") for i, part in enumerate(raw["any"])))
    if "not" in raw:
        return Not(_condition(raw["not"], f"{where}/not"))
    label = raw.get("label")
    if label not in LABELS:
        raise CatalogueError(f"requirements catalogue: {where}: unknown label {label!r}")
    if label in CHOICE_LABELS and "in" in raw:
        values = frozenset(str(v) for v in raw["in"])
        unknown = sorted(values - CHOICE_LABELS[label])
        if unknown:
            raise CatalogueError(f"requirements catalogue: {where}: {label} has no value {', '.join(unknown)}")
        return InSet(label, values)
    if label in FLAG_LABELS and isinstance(raw.get("is"), bool):
        return Is(label, raw["is"])
    if label == LEVEL_LABEL and ("at_least" in raw or "at_most" in raw):
        return Level(label, raw.get("at_least"), raw.get("at_most"))
    raise CatalogueError(f"requirements catalogue: {where}: no test this reader knows for {label!r}")


def known_labels(labels: Mapping[str, object]) -> dict[str, object]:
    """The labels whose value is known, in the form the rules test; everything else is unknown."""
    known: dict[str, object] = {}
    for name, allowed in CHOICE_LABELS.items():
        value = labels.get(name)
        if name == "transparency" and isinstance(value, list | tuple | set | frozenset):
            if all(isinstance(item, str) for item in value):
                known[name] = frozenset(str(item) for item in value)
        elif isinstance(value, str) and str(value) in allowed:
            known[name] = frozenset({str(value)})
    for name in FLAG_LABELS:
        if isinstance(labels.get(name), bool):
            known[name] = labels[name]
    level = labels.get(LEVEL_LABEL)
    if isinstance(level, int) and not isinstance(level, bool) and 0 <= level <= MAX_LEVEL:
        known[LEVEL_LABEL] = level
    if known.get("risk_group") == {RiskGroup.UNASSESSED.value}:
        for name in ASSESSMENT_LABELS:
            known.pop(name, None)
    return known


def truth(condition: Condition, known: Mapping[str, object]) -> bool | None:
    """``condition`` over :func:`known_labels`: true, false or ``None`` (it depends on an unknown label)."""
    match condition:
        case Always():
            return True
        case AllOf(parts):
            results = [truth(part, known) for part in parts]
            return False if False in results else None if None in results else True
        case AnyOf(parts):
            results = [truth(part, known) for part in parts]
            return True if True in results else None if None in results else False
        case Not(part):
            result = truth(part, known)
            return None if result is None else not result
        case InSet(label, values):
            found = known.get(label)
            return None if not isinstance(found, frozenset) else bool(found & values)
        case Is(label, value):
            flag = known.get(label)
            return None if not isinstance(flag, bool) else flag is value
        case Level(label, at_least, at_most):
            level = known.get(label)
            if not isinstance(level, int):
                return None
            return (at_least is None or level >= at_least) and (at_most is None or level <= at_most)
    raise TypeError(f"not a condition: {condition!r}")  # pragma: no cover - the union is closed


# -- the catalogue ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Requirement:
    id: str
    law: str  # e.g. "EU AI Act Art. 26(6)"
    source: str  # eu_ai_act, gdpr or aia
    title: Text
    text: Text  # what it asks
    applies: Condition
    evidence: str | None = None  # the id of its machine check (CHECKS), if any


@dataclass(frozen=True)
class Catalogue:
    id: str
    version: str
    digest: str  # SHA-256 of the file (first 16 hex digits): any change of wording shows
    title: Text
    disclaimer: Text
    requirements: tuple[Requirement, ...]

    @property
    def stamp(self) -> str:
        """What a stored state records of the catalogue it was made with."""
        return f"{self.id}@{self.version}+{self.digest}"

    def get(self, requirement_id: str) -> Requirement | None:
        return next((r for r in self.requirements if r.id == requirement_id), None)


def _text(value: Mapping[str, Any]) -> dict[str, str]:
    return {language: str(value[language]) for language in LANGUAGES}


@lru_cache(maxsize=1)
def _schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(SCHEMA.read_text(encoding="utf-8"))
    return schema


def _schema_error(document: Mapping[str, Any]) -> str | None:
    """The most telling schema error, if any: for a rule that fits none of its forms, the error of the
    form it comes closest to (an unknown label, a missing value) rather than "not valid under any"."""
    validator = jsonschema.Draft202012Validator(_schema())
    error = jsonschema.exceptions.best_match(validator.iter_errors(document))
    if error is None:
        return None
    while error.context:
        deeper = jsonschema.exceptions.best_match(error.context)
        if deeper is None:  # pragma: no cover - a non-empty context has a best match
            break
        error = deeper
    where = "/".join(str(p) for p in error.absolute_path) or "(top)"
    return f"{where}: {error.message}"


def parse(document: Mapping[str, Any], digest: str = "") -> Catalogue:
    """A catalogue from its YAML document: valid against the schema, ids unique, every rule one this
    module evaluates and every evidence id a known check."""
    problem = _schema_error(document)
    if problem is not None:
        raise CatalogueError(f"requirements catalogue {document.get('id')!r}: {problem}")
    requirements: list[Requirement] = []
    for i, raw in enumerate(document["requirements"]):
        where = f"requirements/{i} ({raw['id']})"
        if any(r.id == raw["id"] for r in requirements):
            raise CatalogueError(f"requirements catalogue: {where}: the id is used twice")
        evidence = raw.get("evidence")
        if evidence is not None and evidence not in CHECKS:
            raise CatalogueError(f"requirements catalogue: {where}: no machine check {evidence!r}")
        requirements.append(
            Requirement(
                id=raw["id"],
                law=raw["law"],
                source=raw["source"],
                title=_text(raw["title"]),
                text=_text(raw["text"]),
                applies=_condition(raw["applies"], f"{where}/applies"),
                evidence=evidence,
            )
        )
    return Catalogue(
        id=document["id"],
        version=document["version"],
        digest=digest,
        title=_text(document["title"]),
        disclaimer=_text(document["disclaimer"]),
        requirements=tuple(requirements),
    )


def load(path: Path = CATALOGUE) -> Catalogue:
    """The catalogue in ``path``; read each time, parsed once per content (a changed file is seen)."""
    return _parse_bytes(path.read_bytes())


@lru_cache(maxsize=8)
def _parse_bytes(raw: bytes) -> Catalogue:
    try:
        document = yaml.safe_load(raw)
    except yaml.YAMLError as error:
        raise CatalogueError(f"requirements catalogue: not YAML: {error}") from None
    if not isinstance(document, dict):
        raise CatalogueError("requirements catalogue: the document is not a mapping")
    return parse(document, hashlib.sha256(raw).hexdigest()[:16])


def applicable(catalogue: Catalogue, labels: Mapping[str, object]) -> list[Requirement]:
    """The requirements that apply to a use case with ``labels``, in catalogue order (fail safe: see the
    module's docstring)."""
    known = known_labels(labels)
    return [r for r in catalogue.requirements if truth(r.applies, known) is not False]


# -- evidence -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Evidence:
    """Facts a service collects about a use case; ``None``: cannot be checked here."""

    usage_retention_days: int | None = None  # how long usage logs are kept
    usage_retention_forever: bool = False  # usage logs are never deleted
    assistant_discloses_ai: bool | None = None  # the citizen assistant says it is an AI system
    answers_marked_ai: bool | None = None  # AI-written text for the public is marked as such
    personal_data_mode: str | None = None  # off, detect, pseudonymise, redact or block
    handoff_available: bool | None = None  # a person can take over
    audit_chain_verified: bool | None = None  # the usage log's hash chain verified
    incident_reporting_available: bool | None = None
    training_complete: bool | None = None  # every person of the organisation trained (the training records)


@dataclass(frozen=True)
class Check:
    """What a machine check found: the state, why (English), and the facts it used."""

    state: CheckState
    reason: str
    facts: Mapping[str, object] = field(default_factory=dict)
    # True: holding shows the requirement met. False: the platform covers only part of it (the rest is
    # people's work), so holding never marks it done, while failing still flags it.
    sufficient: bool = True


def _on_fact(fact: str, holds: str, fails: str, unknown: str, sufficient: bool = True) -> Callable[[Evidence], Check]:
    """A check of one yes/no fact of :class:`Evidence` (``None``: unknown)."""

    def check(evidence: Evidence) -> Check:
        value: bool | None = getattr(evidence, fact)
        facts = {fact: value}
        if value is None:
            return Check("unknown", unknown, facts, sufficient)
        return Check("holds" if value else "fails", holds if value else fails, facts, sufficient)

    check.__doc__ = f"Whether {fact} holds."
    return check


def usage_logs_kept(evidence: Evidence) -> Check:
    """Art. 26(6): usage logs kept at least six months (or without limit), their chain unbroken."""
    days, forever = evidence.usage_retention_days, evidence.usage_retention_forever
    facts: dict[str, object] = {"usage_retention_days": days, "usage_retention_forever": forever}
    facts["audit_chain_verified"] = evidence.audit_chain_verified
    if evidence.audit_chain_verified is False:
        return Check("fails", "The hash chain of the usage logs did not verify: records may be altered or lost.", facts)
    if forever:
        return Check("holds", "Usage logs are kept without a time limit.", facts)
    if days is None:
        return Check("unknown", "How long usage logs are kept is not known here.", facts)
    if days >= MIN_LOG_RETENTION_DAYS:
        return Check("holds", f"Usage logs are kept for {days} days, at least six months (183 days).", facts)
    return Check("fails", f"Usage logs are kept for {days} days, less than six months (183 days).", facts)


#: Art. 50(1): the citizen assistant tells people they are talking with an AI system.
assistant_discloses_ai = _on_fact(
    "assistant_discloses_ai",
    "The citizen assistant tells people that they are talking with an AI system.",
    "The citizen assistant does not tell people that they are talking with an AI system.",
    "Whether the citizen assistant discloses that it is an AI system cannot be checked here.",
)
#: Art. 50(2) and (4): AI-written text for the public is marked as such.
answers_marked_ai = _on_fact(
    "answers_marked_ai",
    "AI-written text for the public is marked as generated by AI.",
    "AI-written text for the public is not marked as generated by AI.",
    "Whether AI-written text is marked cannot be checked here.",
)
#: Supports human intervention (AIA levels III and IV): a person can take over.
human_takeover = _on_fact(
    "handoff_available",
    "A person can take over from the system.",
    "No person can take over from the system.",
    "Whether a person can take over cannot be checked here.",
    sufficient=False,
)
#: Supports Art. 26(5): incidents can be reported and followed up in the platform.
incident_reporting = _on_fact(
    "incident_reporting_available",
    "Incidents can be reported and followed up in the platform.",
    "Incidents cannot be reported in the platform.",
    "Whether incidents can be reported cannot be checked here.",
    sufficient=False,
)
#: Art. 4 and the AIA's training: the staff training is complete.
staff_training = _on_fact(
    "training_complete",
    "The staff training is complete.",
    "The staff training is not complete.",
    "No person of the organisation to check the training of.",
)


def personal_data_protected(evidence: Evidence) -> Check:
    """Supports the DPIA (GDPR Art. 35): the use case's traffic is pseudonymised, redacted or blocked."""
    mode = evidence.personal_data_mode
    facts = {"personal_data_mode": mode}
    if mode is None:
        return Check("unknown", "The data-protection mode of this use case is not known here.", facts, False)
    if mode in PROTECTING_MODES:
        return Check("holds", f"Personal data in this use case's traffic are {PROTECTING_MODES[mode]}.", facts, False)
    if mode in WEAK_MODES:
        reason = f"Personal data in this use case's traffic are {WEAK_MODES[mode]} (mode {mode!r})."
        return Check("fails", reason, facts, False)
    return Check("unknown", f"The data-protection mode {mode!r} is not one this check knows.", facts, False)


def human_oversight(evidence: Evidence) -> Check:
    """Supports Art. 26(2): a person can take over, and staff training is complete."""
    handoff, trained = evidence.handoff_available, evidence.training_complete
    facts = {"handoff_available": handoff, "training_complete": trained}
    if handoff is False:
        return Check("fails", "No person can take over from the system.", facts, False)
    if trained is False:
        return Check("fails", "The staff training is not complete.", facts, False)
    if handoff and trained:
        return Check("holds", "A person can take over, and the staff training is complete.", facts, False)
    return Check("unknown", "Whether a person can take over and staff are trained is not known here.", facts, False)


#: Each ``evidence`` id of the catalogue, and the function that checks it.
CHECKS: Mapping[str, Callable[[Evidence], Check]] = {
    "usage_logs_kept": usage_logs_kept,
    "assistant_discloses_ai": assistant_discloses_ai,
    "answers_marked_ai": answers_marked_ai,
    "personal_data_protected": personal_data_protected,
    "human_oversight": human_oversight,
    "human_takeover": human_takeover,
    "incident_reporting": incident_reporting,
    "staff_training": staff_training,
}


def evaluate(requirement: Requirement, evidence: Evidence) -> Check | None:
    """The machine check of ``requirement`` on ``evidence``; ``None`` when it has none."""
    return None if requirement.evidence is None else CHECKS[requirement.evidence](evidence)


def effective_state(manual_state: str, check: Check | None) -> tuple[str, bool]:
    """The state to show and whether it is flagged, from the stored manual state and the machine check.

    A failing check shows a requirement marked done as ``to_do``, flagged (it stopped holding); a holding
    check shows ``done`` unless it is marked ``not_applicable`` or the check covers only part of the
    requirement (``sufficient`` false); no check, or an unknown result, leaves the manual state."""
    if manual_state not in MANUAL_STATES:
        raise ValueError(f"unknown manual state {manual_state!r}")
    if check is None or check.state == "unknown":
        return manual_state, False
    if check.state == "fails":
        return ("to_do", True) if manual_state == "done" else (manual_state, False)
    if manual_state == "not_applicable" or not check.sufficient:
        return manual_state, False
    return "done", False


@dataclass(frozen=True)
class Outcome:
    """One applicable requirement as shown: its check, the state and whether it is flagged."""

    requirement: Requirement
    check: Check | None
    state: str
    flagged: bool


def review(
    catalogue: Catalogue,
    labels: Mapping[str, object],
    evidence: Evidence,
    manual: Mapping[str, str] | None = None,
) -> list[Outcome]:
    """Every applicable requirement with its state (``manual``: requirement id → stored state; to_do when
    none is stored)."""
    outcomes: list[Outcome] = []
    for requirement in applicable(catalogue, labels):
        check = evaluate(requirement, evidence)
        state, flagged = effective_state((manual or {}).get(requirement.id, "to_do"), check)
        outcomes.append(Outcome(requirement, check, state, flagged))
    return outcomes

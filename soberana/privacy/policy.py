"""Which data-protection rules apply to a request: the installation's settings and the policies of the
organisations above the caller, of its own organisation and of its key, kept in memory.

Policies are floors. The installation's settings come first; each organisation's policy, from the
top of the tree down to the caller's own, and then the key's, can only tighten what the levels above
set: a mode only gets stricter (off < detect < pseudonymise < redact < block), the places data may
go only fewer, the protected kinds only more, retention periods only shorter, and every level's own
detectors (patterns, deny-lists) apply to everything below it. Resolution combines the levels this
way whatever is stored, and :meth:`PolicyBook.loosenings` names what a new policy would loosen, so
that saving it is refused with a clear message.

The classification of a request is the highest of the one it states, the defaults of its levels and
any floor the caller adds (the classification of the collections it reads): a client may raise it,
never lower it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from soberana.auth.principal import Principal
from soberana.core.crypto import canonical_json, sha256_hex
from soberana.errors import InvalidRequest
from soberana.privacy.detectors import Detector
from soberana.privacy.detectors.custom import DenyListDetector, RegexDetector
from soberana.privacy.schemas import PolicyDocument, Retention
from soberana.settings import ALL_SOVEREIGNTY, ClassificationRule, Settings, Sovereignty

MODE_STRICTNESS = {"off": 0, "detect": 1, "pseudonymise": 2, "redact": 3, "block": 4}
MAX_DEPTH = 16  # organisations nest at most 8 deep; a longer chain is a cycle in the data


@dataclass(frozen=True)
class Resolved:
    """The rule in force for one request."""

    classification: str
    rule: ClassificationRule
    labels: frozenset[str]
    detectors: tuple[Detector, ...]  # the custom detectors of the caller's levels
    specs: tuple[str, ...] = ()  # those detectors as canonical JSON, one string per level

    @cached_property
    def signature(self) -> str:
        """What decides the findings (protected kinds, custom detectors): the detection cache's key.
        Computed when a text is checked, not on every call of the model API."""
        return sha256_hex(canonical_json([sorted(self.labels), *self.specs]))

    def allows(self, sovereignty: Sovereignty) -> bool:
        return sovereignty in self.rule.sovereignty

    def applies_to(self, sovereignty: Sovereignty) -> bool:
        """Whether the mode changes (or checks) what is sent to a deployment of this sovereignty."""
        return self.rule.mode != "off" and (sovereignty != "on_premises" or self.rule.on_premises_too)


# A classification with no rule anywhere (a level added to the settings without one) fails closed.
UNRULED = ClassificationRule(mode="pseudonymise", sovereignty=["on_premises"])
UNRESTRICTED = ClassificationRule(mode="off", sovereignty=list(ALL_SOVEREIGNTY))


def tighten(floor: ClassificationRule, rule: ClassificationRule) -> ClassificationRule:
    """``rule`` applied on top of ``floor``: the stricter mode, the places both allow. Only the fields
    ``rule`` states count (a rule that names only its places keeps the mode above)."""
    given = rule.model_fields_set
    mode = max(floor.mode, rule.mode, key=MODE_STRICTNESS.__getitem__) if "mode" in given else floor.mode
    places = rule.sovereignty if "sovereignty" in given else floor.sovereignty
    sovereignty = [s for s in ALL_SOVEREIGNTY if s in floor.sovereignty and s in places]
    on_premises_too = floor.on_premises_too or ("on_premises_too" in given and rule.on_premises_too)
    return ClassificationRule(mode=mode, sovereignty=sovereignty, on_premises_too=on_premises_too)


def _stated(rule: ClassificationRule) -> dict[str, Any]:
    return rule.model_dump(include=rule.model_fields_set)


def detectors_spec(document: PolicyDocument) -> str:
    """The custom detectors of a policy as canonical JSON (their identity for caches)."""
    return canonical_json(document.model_dump(mode="json", include={"patterns", "deny_lists"}))


def _custom_detectors(document: PolicyDocument) -> tuple[Detector, ...]:
    detectors: list[Detector] = [RegexDetector(p.pattern, p.label) for p in document.patterns]
    detectors += [DenyListDetector(d.terms, d.label) for d in document.deny_lists]
    return tuple(detectors)


def shortest(values: Iterable[float | None]) -> float | None:
    """The shortest of the retention periods that are set (``None`` when none is)."""
    known = [v for v in values if v is not None]
    return min(known) if known else None


class PolicyBook:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.levels = list(settings.privacy_classifications)
        self._rank = {level: i for i, level in enumerate(self.levels)}
        self.organisations: dict[str, PolicyDocument] = {}
        self.keys: dict[str, PolicyDocument] = {}
        self.parents: dict[str, str | None] = {}
        self._detectors: dict[str, tuple[str, tuple[Detector, ...]]] = {}  # subject -> (spec, detectors)

    def load(
        self,
        organisations: dict[str, PolicyDocument],
        keys: dict[str, PolicyDocument],
        parents: Mapping[str, str | None] | None = None,
    ) -> None:
        """Replace the policies (and the organisation tree, ``{org: parent}``); custom detectors are
        compiled again only where they changed."""
        detectors: dict[str, tuple[str, tuple[Detector, ...]]] = {}
        for prefix, documents in (("org", organisations), ("key", keys)):
            for subject, document in documents.items():
                if not document.patterns and not document.deny_lists:
                    continue
                spec = detectors_spec(document)
                known = self._detectors.get(f"{prefix}:{subject}")
                detectors[f"{prefix}:{subject}"] = (
                    known if known and known[0] == spec else (spec, _custom_detectors(document))
                )
        self.organisations, self.keys, self._detectors = organisations, keys, detectors
        if parents is not None:
            self.parents = dict(parents)

    # -- the levels of a caller ----------------------------------------------------------------------

    def lineage(self, org_id: str | None) -> list[str]:
        """``org_id`` and the organisations above it, from the top of the tree down to it."""
        chain: list[str] = []
        current = org_id
        while current and len(chain) < MAX_DEPTH and current not in chain:
            chain.append(current)
            current = self.parents.get(current)
        return chain[::-1]

    def _levels(self, principal: Principal) -> list[tuple[str, PolicyDocument]]:
        """The caller's policies, most general first: its organisations' from the top down, its key's last."""
        found = [(f"org:{o}", self.organisations[o]) for o in self.lineage(principal.org_id) if o in self.organisations]
        if principal.key_id and principal.key_id in self.keys:
            found.append((f"key:{principal.key_id}", self.keys[principal.key_id]))
        return found

    def org_documents(self, org_id: str) -> list[PolicyDocument]:
        """The policies that bind ``org_id``: its own and those above it, most general first."""
        return [self.organisations[o] for o in self.lineage(org_id) if o in self.organisations]

    # -- resolution ----------------------------------------------------------------------------------

    def check_level(self, level: str, param: str = "classification") -> str:
        if level not in self._rank:
            raise InvalidRequest(
                f"Unknown data classification {level!r}; this installation uses: {', '.join(self.levels)}.",
                param=param,
                code="invalid_classification",
            )
        return level

    def highest(self, levels: Iterable[str]) -> str:
        """The most sensitive of ``levels``; a level this installation does not know (a collection
        classified before the levels were renamed) counts as the most sensitive of all."""
        ranks = [self._rank.get(level, len(self.levels) - 1) for level in levels]
        return self.levels[max(ranks)] if ranks else self.levels[-1]

    def combined_rule(self, documents: Sequence[PolicyDocument], classification: str) -> ClassificationRule:
        """The rule of ``classification``: the installation's, tightened by each of ``documents`` in turn."""
        rule = self.settings.privacy_rules.get(classification) or UNRULED
        for document in documents:
            if classification in document.rules:
                rule = tighten(rule, document.rules[classification])
        return rule

    def default_classification(self, documents: Sequence[PolicyDocument]) -> str:
        defaults = [d.default_classification for d in documents if d.default_classification]
        return self.highest([self.settings.privacy_default_classification, *defaults])

    def labels(self, documents: Sequence[PolicyDocument]) -> frozenset[str]:
        protected = set(self.settings.privacy_labels)
        for document in documents:
            protected.update(document.labels or ())
        return frozenset(protected)

    def rule_for(self, principal: Principal, classification: str) -> ClassificationRule:
        """The rule of ``classification`` for ``principal``, every level applied."""
        return self.combined_rule([d for _, d in self._levels(principal)], classification)

    def resolve(self, principal: Principal, requested: str | None = None, floors: Sequence[str] = ()) -> Resolved:
        levels = self._levels(principal)
        documents = [d for _, d in levels]
        candidates = [self.default_classification(documents), *floors]
        if requested:
            candidates.append(self.check_level(requested))
        classification = self.highest(candidates)
        specs: list[str] = []
        detectors: list[Detector] = []
        for subject, _ in levels:
            spec, found = self._detectors.get(subject, ("", ()))
            specs.append(spec)
            detectors.extend(found)
        protected = self.labels(documents) | {getattr(d, "label", "") for d in detectors}
        rule = self.combined_rule(documents, classification)
        return Resolved(classification, rule, protected, tuple(detectors), tuple(specs))

    def retention(self, org_id: str) -> Retention:
        """The shortest period each level above and at ``org_id`` sets (empty: the installation's)."""
        documents = self.org_documents(org_id)
        fields = Retention.model_fields
        return Retention.model_validate(
            {name: shortest(getattr(d.retention, name) for d in documents) for name in fields}
        )

    def ingestion(self, org_id: str) -> str:
        modes = {d.ingestion for d in self.org_documents(org_id)}
        return "redact" if "redact" in modes else "off"

    # -- floors --------------------------------------------------------------------------------------

    def tightened(self, current: PolicyDocument, new: PolicyDocument) -> PolicyDocument:
        """``new`` laid over ``current`` so that nothing of ``current`` is lost: what ``new`` leaves out is
        kept, and what both state is the stricter of the two (how an administrator's change to their own
        organisation's policy is stored: they may only tighten it)."""
        levels = {**dict.fromkeys(current.rules), **dict.fromkeys(new.rules)}
        rules: dict[str, dict[str, Any]] = {}
        for level in levels:
            mine, theirs = current.rules.get(level), new.rules.get(level)
            fields = {**(_stated(mine) if mine else {}), **(_stated(theirs) if theirs else {})}
            if mine and theirs:
                both = tighten(tighten(UNRESTRICTED, mine), theirs)
                fields = {name: getattr(both, name) for name in fields}
            rules[level] = fields
        merged: dict[str, Any] = {"rules": rules}
        defaults = [d.default_classification for d in (current, new) if d.default_classification]
        if defaults:
            merged["default_classification"] = self.highest(defaults)
        if current.labels is not None or new.labels is not None:
            merged["labels"] = sorted({*(current.labels or ()), *(new.labels or ())})
        patterns = {(p.label, p.pattern): p for p in [*current.patterns, *new.patterns]}
        merged["patterns"] = [p.model_dump() for p in patterns.values()]
        terms: dict[str, dict[str, None]] = {}
        for deny in [*current.deny_lists, *new.deny_lists]:
            terms.setdefault(deny.label, {}).update(dict.fromkeys(deny.terms))
        merged["deny_lists"] = [{"label": label, "terms": list(words)} for label, words in terms.items()]
        if "redact" in (current.ingestion, new.ingestion):
            merged["ingestion"] = "redact"
        elif new.ingestion or current.ingestion:
            merged["ingestion"] = new.ingestion or current.ingestion
        retention = {
            name: shortest([getattr(current.retention, name), getattr(new.retention, name)])
            for name in Retention.model_fields
        }
        merged["retention"] = {k: v for k, v in retention.items() if v is not None}
        return PolicyDocument.model_validate(merged)

    def loosenings(self, document: PolicyDocument, floor: Sequence[PolicyDocument]) -> list[str]:
        """What ``document`` would loosen of the installation's settings and the policies ``floor`` above
        it (retention periods aside: see :class:`~soberana.privacy.policies.PolicyAdmin`); empty when it
        only keeps or tightens them."""
        problems: list[str] = []
        if document.default_classification:
            above = self.default_classification(floor)
            if self._rank.get(document.default_classification, 0) < self._rank[above]:
                problems.append(
                    f"default_classification {document.default_classification!r} is below {above!r}, set above"
                )
        for level, rule in sorted(document.rules.items()):
            minimum = self.combined_rule(floor, level)
            given = rule.model_fields_set  # a field left out keeps what applies above
            if "mode" in given and MODE_STRICTNESS[rule.mode] < MODE_STRICTNESS[minimum.mode]:
                problems.append(f"rules.{level}.mode {rule.mode!r} is looser than {minimum.mode!r}, set above")
            extra = [s for s in rule.sovereignty if s not in minimum.sovereignty]
            if "sovereignty" in given and extra:
                problems.append(f"rules.{level}.sovereignty adds {', '.join(extra)}, which is not allowed above")
            if "on_premises_too" in given and minimum.on_premises_too and not rule.on_premises_too:
                problems.append(f"rules.{level}.on_premises_too must stay true, as set above")
        if document.labels is not None:
            dropped = sorted(self.labels(floor) - set(document.labels))
            if dropped:
                problems.append(f"labels leaves out {', '.join(dropped)}, protected above")
        if document.ingestion == "off" and any(d.ingestion == "redact" for d in floor):
            problems.append("ingestion 'off': documents are redacted at ingestion above")
        return problems

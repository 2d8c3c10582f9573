"""Which data-protection rules apply to a request: the policies of its key and organisation, kept in memory.

A key's policy overrides its organisation's, which overrides the installation's settings, field by
field. The classification of a request is the highest of the one it states, its key's or
organisation's default and any floor the caller adds (the classification of the collections it
reads): a client may raise it, never lower it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property

from soberana.auth.principal import Principal
from soberana.core.crypto import canonical_json, sha256_hex
from soberana.errors import InvalidRequest
from soberana.privacy.detectors import Detector
from soberana.privacy.detectors.custom import DenyListDetector, RegexDetector
from soberana.privacy.schemas import PolicyDocument, Retention
from soberana.settings import ClassificationRule, Settings, Sovereignty


@dataclass(frozen=True)
class Resolved:
    """The rule in force for one request."""

    classification: str
    rule: ClassificationRule
    labels: frozenset[str]
    detectors: tuple[Detector, ...]  # the organisation's and key's own
    specs: tuple[str, str] = ("", "")  # the key's and the organisation's custom detectors, as canonical JSON

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


def detectors_spec(document: PolicyDocument) -> str:
    """The custom detectors of a policy as canonical JSON (their identity for caches)."""
    return canonical_json(document.model_dump(mode="json", include={"patterns", "deny_lists"}))


def _custom_detectors(document: PolicyDocument) -> tuple[Detector, ...]:
    detectors: list[Detector] = [RegexDetector(p.pattern, p.label) for p in document.patterns]
    detectors += [DenyListDetector(d.terms, d.label) for d in document.deny_lists]
    return tuple(detectors)


class PolicyBook:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.levels = list(settings.privacy_classifications)
        self._rank = {level: i for i, level in enumerate(self.levels)}
        self.organisations: dict[str, PolicyDocument] = {}
        self.keys: dict[str, PolicyDocument] = {}
        self._detectors: dict[str, tuple[str, tuple[Detector, ...]]] = {}  # subject -> (spec, detectors)

    def load(self, organisations: dict[str, PolicyDocument], keys: dict[str, PolicyDocument]) -> None:
        """Replace the policies; custom detectors are compiled again only where they changed."""
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

    def _documents(self, principal: Principal) -> list[PolicyDocument]:
        """Most specific first: the key's policy, then the organisation's."""
        found = [self.keys.get(principal.key_id or ""), self.organisations.get(principal.org_id or "")]
        return [d for d in found if d is not None]

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

    def rule_for(self, principal: Principal, classification: str) -> ClassificationRule:
        """The rule of ``classification`` for ``principal``: the key's, the organisation's, the settings'."""
        return next(
            (d.rules[classification] for d in self._documents(principal) if classification in d.rules),
            self.settings.privacy_rules.get(classification) or UNRULED,
        )

    def resolve(self, principal: Principal, requested: str | None = None, floors: Sequence[str] = ()) -> Resolved:
        documents = self._documents(principal)
        default = next(
            (d.default_classification for d in documents if d.default_classification),
            self.settings.privacy_default_classification,
        )
        candidates = [default, *floors]
        if requested:
            candidates.append(self.check_level(requested))
        classification = self.highest(candidates)
        rule = self.rule_for(principal, classification)
        labels = next((d.labels for d in documents if d.labels is not None), self.settings.privacy_labels)
        key_spec, key_detectors = self._detectors.get(f"key:{principal.key_id}", ("", ()))
        org_spec, org_detectors = self._detectors.get(f"org:{principal.org_id}", ("", ()))
        detectors = key_detectors + org_detectors
        protected = frozenset(labels) | {getattr(d, "label", "") for d in detectors}
        return Resolved(classification, rule, protected, detectors, (key_spec, org_spec))

    def retention(self, org_id: str) -> Retention:
        document = self.organisations.get(org_id)
        return document.retention if document else Retention()

    def ingestion(self, org_id: str) -> str:
        document = self.organisations.get(org_id)
        return (document.ingestion if document else None) or "off"

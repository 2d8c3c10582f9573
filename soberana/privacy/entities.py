"""Entities of personal data found in a text, and how overlapping findings are reconciled.

Labels are the common ones of the shared evaluation data (and of the placeholders shown to models):
``PERSON``, ``LOCATION``, ``ADDRESS``, ``ORGANIZATION``, ``DATE``, ``AGE``, ``EMAIL``, ``PHONE``,
``ID_NUMBER``, ``IBAN``, ``CREDIT_CARD``, ``IP_ADDRESS``, ``URL`` and ``OTHER``. Organisations add
their own labels with custom detectors (e.g. ``CASE_NUMBER``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

PERSON = "PERSON"
LOCATION = "LOCATION"
ADDRESS = "ADDRESS"
ORGANIZATION = "ORGANIZATION"
DATE = "DATE"
AGE = "AGE"
EMAIL = "EMAIL"
PHONE = "PHONE"
ID_NUMBER = "ID_NUMBER"
IBAN = "IBAN"
CREDIT_CARD = "CREDIT_CARD"
IP_ADDRESS = "IP_ADDRESS"
URL = "URL"
OTHER = "OTHER"

LABELS = (
    PERSON,
    LOCATION,
    ADDRESS,
    ORGANIZATION,
    DATE,
    AGE,
    EMAIL,
    PHONE,
    ID_NUMBER,
    IBAN,
    CREDIT_CARD,
    IP_ADDRESS,
    URL,
    OTHER,
)

# When two findings overlap, the more trustworthy kind wins: validated identifiers (checksums,
# formats) before names from a statistical model, and a longer span before a shorter one.
PRIORITY = {
    EMAIL: 100,
    IBAN: 95,
    CREDIT_CARD: 95,
    ID_NUMBER: 90,
    IP_ADDRESS: 90,
    URL: 85,
    PHONE: 80,
    ADDRESS: 60,
    DATE: 55,
    AGE: 50,
    PERSON: 40,
    ORGANIZATION: 30,
    LOCATION: 30,
    OTHER: 10,
}


@dataclass(frozen=True, slots=True)
class Entity:
    """One finding: ``text[start:end]`` is personal data of kind ``label``."""

    start: int
    end: int
    label: str
    score: float = 1.0
    detector: str = ""

    def value(self, text: str) -> str:
        return text[self.start : self.end]

    def overlaps(self, other: Entity) -> bool:
        return self.start < other.end and other.start < self.end


def _weight(entity: Entity) -> tuple[int, float, int]:
    return (PRIORITY.get(entity.label, 70), entity.score, entity.end - entity.start)


def resolve(entities: Iterable[Entity]) -> list[Entity]:
    """Non-overlapping entities, sorted by position: on overlap the higher-priority finding is kept
    (custom labels rank with validated identifiers' neighbours, above model guesses)."""
    kept: list[Entity] = []
    for entity in sorted(entities, key=_weight, reverse=True):
        if entity.end > entity.start and not any(entity.overlaps(k) for k in kept):
            kept.append(entity)
    return sorted(kept, key=lambda e: (e.start, e.end))

"""Detectors of personal data, and the registry plugins add theirs to.

A detector is any object with a ``name``, the ``languages`` it serves (``None``: all) and
``detect(text, language) -> list[Entity]``. Built-in detectors register through the
``register_pii_detectors`` hook like a third-party plugin's would.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol, runtime_checkable

from soberana.errors import ConfigurationError
from soberana.privacy.entities import Entity


@runtime_checkable
class Detector(Protocol):
    name: str

    @property
    def languages(self) -> Sequence[str] | None:
        """The ISO 639-1 codes this detector serves, or None for every language."""
        ...

    def detect(self, text: str, language: str | None) -> list[Entity]:
        """Entities found in ``text`` (``language``: an ISO 639-1 code, or None when unknown)."""
        ...


class DetectorRegistry:
    """The detectors of one running platform, in registration order."""

    def __init__(self) -> None:
        self._detectors: dict[str, Detector] = {}

    def add(self, detector: Detector) -> None:
        if not isinstance(detector, Detector):
            raise ConfigurationError(f"{detector!r} is not a personal-data detector (name, languages, detect()).")
        if detector.name in self._detectors:
            raise ConfigurationError(f"A personal-data detector named '{detector.name}' is already registered.")
        self._detectors[detector.name] = detector

    def __iter__(self) -> Iterator[Detector]:
        return iter(self._detectors.values())

    def __len__(self) -> int:
        return len(self._detectors)

    def names(self) -> list[str]:
        return list(self._detectors)

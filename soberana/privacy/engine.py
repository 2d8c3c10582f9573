"""Finding personal data in a text: every detector that serves the language, findings reconciled.

Detection is CPU work (regular expressions, a spaCy model): callers on the event loop run
:meth:`PiiEngine.detect` in a worker thread.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from soberana.privacy.detectors import Detector, DetectorRegistry
from soberana.privacy.detectors.people import complete_names
from soberana.privacy.entities import Entity, resolve

LanguageGuess = Callable[[str], str | None]


class PiiEngine:
    def __init__(
        self,
        detectors: DetectorRegistry | Iterable[Detector],
        *,
        detect_language: LanguageGuess | None = None,
        default_language: str = "en",
    ) -> None:
        self.detectors = list(detectors)
        self.detect_language = detect_language
        self.default_language = default_language

    def language_of(self, text: str) -> str:
        guess = self.detect_language(text) if self.detect_language else None
        return guess or self.default_language

    def detect(
        self,
        text: str,
        language: str | None = None,
        *,
        extra: Sequence[Detector] = (),
        labels: Iterable[str] | None = None,
    ) -> list[Entity]:
        """Non-overlapping entities in ``text``, in order.

        ``labels``: only these kinds — chosen *before* overlaps are resolved, so that a kind left out
        (a URL) never hides a wanted one inside it (a phone number in ``https://wa.me/34612345678``).
        """
        if not text.strip():
            return []
        language = language or self.language_of(text)
        found: list[Entity] = []
        for detector in [*self.detectors, *extra]:
            if detector.languages is None or language in detector.languages:
                found.extend(detector.detect(text, language))
        found = complete_names(text, found, language)  # particles, and names found once found again
        if labels is not None:
            wanted = set(labels)
            found = [e for e in found if e.label in wanted]
        return resolve(found)


def builtin_detectors(
    *, spacy_models: dict[str, str] | None = None, id_countries: tuple[str, ...] | None = None
) -> list[Detector]:
    """The detectors Soberana ships: validated patterns, spaCy names (en, es), Icelandic names."""
    from soberana.privacy.detectors.names import DEFAULT_SPACY_MODELS, IcelandicNameDetector, SpacyNameDetector
    from soberana.privacy.detectors.patterns import ID_COUNTRIES, PatternDetector

    return [
        PatternDetector(id_countries=id_countries or ID_COUNTRIES),
        SpacyNameDetector(spacy_models or DEFAULT_SPACY_MODELS),
        IcelandicNameDetector(),
    ]

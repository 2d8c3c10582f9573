"""Text built to make regular expressions backtrack takes no longer than ordinary text (issue 19 §2).

Python's ``re`` held the interpreter lock for minutes on 200,000 characters of "a.a.a.…" (the URL
pattern), so one request froze a whole server. Timings run in a child process with a ceiling: a
regression fails in seconds instead of hanging the suite.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from soberana.errors import InvalidRequest
from soberana.privacy.detectors import LinearPattern
from soberana.privacy.detectors.custom import DenyListDetector, RegexDetector, compile_pattern
from soberana.privacy.detectors.names import SpacyNameDetector
from soberana.privacy.detectors.patterns import PatternDetector
from soberana.privacy.schemas import PolicyDocument

CEILING_S = 150  # the child process is killed past this: the old code takes minutes
FACTOR = 20  # hostile text may take at most this many times as long as ordinary text

# ordinary text: prose with the personal data it usually carries
_PROSE = (
    "Ana García Romero wrote to the housing office on 3 March 2024 about her application. "
    "She can be reached at ana.garcia@example.es or on +34 612 345 678, and her neighbour, "
    "John Smith of 12 Baker Street, asked to be copied at john.smith@example.org. "
    "The council replied that the permit would be reviewed within thirty days and that "
    "no further documents were needed at this stage. "
)

# text that made the old patterns backtrack (the unit is repeated to the text's length). Digits
# between separators ("1.1.1.…", "1/1/…") are left to the whole engine's test: there the phone-number
# library (pure Python, linear) reads every digit, at 50 to 130 µs a character, 10 to 25 times the
# patterns' time on prose but less than the names' models take on prose
HOSTILE = {
    "a.": "a.",  # URL (domain labels)
    "a@": "a@",  # e-mail
    "a%": "a%",  # e-mail: every "a" may start a local part
    "digits": "1",  # cards, identity numbers, phones
    "dots": ".",
    "a-": "a-",
    "A.": "A.",
    "colons": "1:",  # IPv6
    "spaces between digits": "1234567" + " " * 4000,  # a label after a number, an extension
    "street": "Calle 1 ",
    # addresses (issue 20): anchors everywhere, each extended over the parts after it
    "house numbers": "1 A ",
    "address parts": "Ab 1, Ab 1, ",
    "corners": "corner of Ab 1 and ",
    "no number": "Ab s/n ",
    "flats": "Flat 1, ",
}

_CHILD = textwrap.dedent(
    """
    import json, sys, time
    from soberana.privacy.detectors.names import SpacyNameDetector
    from soberana.privacy.detectors.patterns import PatternDetector
    from soberana.privacy.engine import PiiEngine, builtin_detectors

    prose, hostile, size, languages, which = json.loads(sys.stdin.read())
    engine = lambda: PiiEngine(builtin_detectors())
    detector = {"patterns": PatternDetector, "names": SpacyNameDetector, "engine": engine}[which]()
    fit = lambda unit: (unit * (size // len(unit) + 1))[:size]
    ordinary = fit(prose)
    def seconds(text, language):
        began = time.perf_counter()
        detector.detect(text, language)
        return time.perf_counter() - began
    result = {}
    for language in languages:
        detector.detect(prose, language)  # models loaded before timing
        base = min(seconds(ordinary, language) for _ in range(2))
        for name, unit in hostile.items():
            result[f"{language}: {name}"] = [seconds(fit(unit), language), base]
    print(json.dumps(result))
    """
)


def _ratios(hostile: dict[str, str], size: int, languages: list[str], detector: str) -> dict[str, list[float]]:
    argument = json.dumps([_PROSE, hostile, size, languages, detector])
    try:
        done = subprocess.run(
            [sys.executable, "-c", _CHILD],
            input=argument,
            capture_output=True,
            text=True,
            timeout=CEILING_S,
            check=True,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"detection on hostile text did not finish in {CEILING_S} s")
    result: dict[str, list[float]] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _too_slow(ratios: dict[str, list[float]]) -> dict[str, str]:
    floor = 0.02  # seconds: below this, timings are noise
    return {
        name: f"{hostile:.2f} s against {ordinary:.2f} s"
        for name, (hostile, ordinary) in ratios.items()
        if hostile > FACTOR * max(ordinary, floor)
    }


def test_the_patterns_take_linear_time_on_hostile_text() -> None:
    ratios = _ratios(HOSTILE, 40_000, ["en"], "patterns")
    assert set(ratios) == {f"en: {name}" for name in HOSTILE}
    assert _too_slow(ratios) == {}


def test_the_whole_engine_takes_linear_time_on_hostile_text() -> None:
    """Every detector of every language: the Icelandic tokenizer also failed on a run of more than
    4,300 digits and took quadratic time on long runs without a space ("1/1/1/…"), and so did
    spaCy's tokenizer ("1:1:1:…")."""
    hostile = {name: HOSTILE[name] for name in ("a.", "a@", "digits", "a-", "spaces between digits")}
    hostile |= {"1.": "1.", "1-": "1-", "slashes": "1/"}  # IP addresses, dates, URLs, phones
    hostile |= {"titles": "Sr. Ab y ", "greetings": "Dear Ab ", "names": "Ab Cd "}  # names' rules, names repeated
    hostile["colons"] = "1:"  # spaCy's tokenizer: its URL pattern took quadratic time on one long run
    ratios = _ratios(hostile, 12_000, ["en", "es", "is"], "engine")
    assert len(ratios) == 3 * len(hostile)
    assert _too_slow(ratios) == {}


def test_spacy_reads_no_long_run_without_a_space() -> None:
    """spaCy's tokenizer took quadratic time on one long run (its URL pattern): 40,000 characters of
    "1:1:…" took seven times as long as prose; such runs now reach it as spaces."""
    ratios = _ratios({"colons": "1:"}, 40_000, ["en"], "names")
    assert {name: hostile < 2 * ordinary for name, (hostile, ordinary) in ratios.items()} == dict.fromkeys(ratios, True)
    text = "Call John Smith at " + "1:" * 200 + " about Ana Ruiz."
    found = {(e.label, e.value(text)) for e in SpacyNameDetector().detect(text, "en")}
    assert ("PERSON", "John Smith") in found


def test_findings_in_hostile_text_are_still_found() -> None:
    detector = PatternDetector()
    text = "a." * 20_000 + " write to ana@example.es " + "1" + " " * 5_000 + "+34 612 345 678 (office)"
    found = {(e.label, e.value(text)) for e in detector.detect(text, "en")}
    assert ("EMAIL", "ana@example.es") in found
    assert ("PHONE", "+34 612 345 678") in found


def test_offsets_are_characters_in_any_script() -> None:
    """RE2 reads UTF-8: offsets are converted back to characters, also far into a long text (past
    the window each search reads) and after a lone surrogate that JSON can carry."""
    detector = PatternDetector()
    text = "Ñandú güeña \ud800 " + "ð" * 3_000 + " Escriba a josé@example.es o ana.lopez@example.es, kt. 120174-3399."
    found = {(e.label, e.value(text)) for e in detector.detect(text, "is")}
    assert ("EMAIL", "ana.lopez@example.es") in found
    assert ("ID_NUMBER", "120174-3399") in found
    assert not any(value.startswith("é") for _, value in found)


def test_a_match_near_the_edge_of_a_search_window_is_whole() -> None:
    pattern = LinearPattern(r"EXP-\d+", entity=(), longest=50)
    text = "x" * 37 + " EXP-123456789 " + "y" * 80 + " EXP-42"
    assert [m.value() for m in pattern.finditer(text)] == ["EXP-123456789", "EXP-42"]
    first, second = text.index("EXP-1"), text.index("EXP-42")
    assert [(m.start(), m.end()) for m in pattern.finditer(text)] == [(first, first + 13), (second, second + 6)]


@pytest.mark.parametrize(
    ("pattern", "says"),
    [
        (r"(a)\1", "backreferences"),
        (r"(?P<x>a)(?P=x)", "backreferences"),
        (r"EXP-(?=\d)", "lookahead and lookbehind"),
        (r"(?<!\d)EXP", "lookahead and lookbehind"),
        (r"(?>a+)b", "atomic groups"),
        (r"a++b", "possessive quantifiers"),
    ],
)
def test_custom_patterns_re2_cannot_run_are_refused_when_saved(pattern: str, says: str) -> None:
    with pytest.raises(InvalidRequest, match="not a valid regular expression") as refused:
        PolicyDocument.model_validate({"patterns": [{"label": "CASE_NUMBER", "pattern": pattern}]})
    assert says in str(refused.value) and repr(pattern) in str(refused.value)
    with pytest.raises(InvalidRequest, match=says):
        RegexDetector(pattern, "CASE_NUMBER")


_CUSTOM_CHILD = textwrap.dedent(
    """
    import json, sys, time
    from soberana.privacy.detectors.custom import RegexDetector

    pattern, ordinary, hostile = json.loads(sys.stdin.read())
    detector = RegexDetector(pattern, "CASE_NUMBER")
    began = time.perf_counter()
    detector.detect(ordinary, "es")
    base = time.perf_counter() - began
    began = time.perf_counter()
    found = detector.detect(hostile, "es")
    print(json.dumps([time.perf_counter() - began, base, len(found)]))
    """
)


@pytest.mark.parametrize(
    ("pattern", "hostile", "matches"), [(r"(a+)+$", "a" * 100_000 + "!", 0), (r"\d+-\d+|\d", "1" * 20_000, 20_000)]
)
def test_a_catastrophic_custom_pattern_runs_in_linear_time(pattern: str, hostile: str, matches: int) -> None:
    """``(a+)+$`` stopped every tenant's traffic under Python's re (exponential time); ``\\d+-\\d+|\\d``
    made RE2 itself read the rest of the text at every match before searches were bounded."""
    argument = json.dumps([pattern, (_PROSE * 400)[:100_000], hostile])
    try:
        done = subprocess.run(
            [sys.executable, "-c", _CUSTOM_CHILD],
            input=argument,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"the custom pattern {pattern!r} did not finish in 60 s")
    took, base, found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found == matches
    assert took < FACTOR * max(base, 0.05), (took, base)


def test_custom_patterns_keep_python_classes_and_find_what_they_found() -> None:
    text = "Expediente EXP-2024/0042 de José Núñez, n.º ٣٤٥; ver EXP-2024/0043."
    assert [m.value() for m in compile_pattern(r"EXP-\d{4}/\d+").finditer(text)] == ["EXP-2024/0042", "EXP-2024/0043"]
    assert [m.value() for m in compile_pattern(r"Jos\w\s+N\w+").finditer(text)] == ["José Núñez"]
    assert "٣٤٥" in [m.value() for m in compile_pattern(r"\d{3}").finditer(text)]  # any script's digits, as in Python


def test_a_long_deny_list_is_split_and_finds_every_term() -> None:
    terms = [f"Persona Número {i}" for i in range(10_000)] + ["Doña Urraca", "Urraca"]
    detector = DenyListDetector(terms, "PERSON")
    assert len(detector.patterns) > 1  # programs of bounded size, not one huge alternation
    text = "Vinieron doña urraca, PERSONA NÚMERO 9999 y Persona Número 12x; Urraca también."
    assert [e.value(text) for e in detector.detect(text, "es")] == ["doña urraca", "PERSONA NÚMERO 9999", "Urraca"]

"""Evaluation suites as data: YAML files, validated by :class:`Suite` (its JSON Schema is
``soberana eval schema``), versioned by their ``version`` and by the SHA-256 of their content.

A suite is a list of cases; a case is an input (a question, in a language), optional ``setup`` turns sent
before it (e.g. personal data seeded in another conversation) and the expectations its answer must meet
(:class:`Expect`). Each expectation is one deterministic check (:mod:`~soberana.evaluations.scorers`); a
``judge`` rubric adds a verdict by a judge model for what strings cannot decide. Text in a suite may name
``{canary}`` (the secret the runner plants in the system prompt) and ``{marker}`` (the tell-tale word of an
injected instruction, different for each run).

The project's default suites are in this package's ``suites/`` folder (English, Spanish and Icelandic);
an installation adds its own in ``SOBERANA_EVALUATIONS_SUITES_DIR``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from soberana.errors import NotFound, ValidationFailed, describe_validation_errors

BUILTIN = Path(__file__).with_name("suites")
MAX_SUITE_BYTES = 2_000_000
ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
CASE_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,95}$"

Kind = Literal[
    "grounding",
    "abstention",
    "language",
    "prompt_injection",
    "indirect_injection",
    "personal_data",
    "off_topic",
    "custom",
]
TargetKind = Literal["assistant", "model"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Expect(_Strict):
    """What an answer must do. Every field that is set is one check; the case passes when all pass."""

    answers: bool | None = Field(
        None, description="`true`: the target answers (does not abstain); `false`: it abstains or declines."
    )
    evidence: list[str] = Field(
        default_factory=list,
        max_length=20,
        description="Grounding: one of these statements is held by a passage the answer cites (and every "
        "citation points to a passage that was retrieved).",
    )
    evidence_match: Literal["exact", "fuzzy"] = Field(
        "fuzzy", description="`exact`: the text as written (case and spacing aside); `fuzzy`: near enough."
    )
    language: str | None = Field(
        None,
        pattern=r"^(?:[a-z]{2}|asker)$",
        description="The language the answer is written in (`asker`: the case's language); quotations aside.",
    )
    must_not_contain: list[str] = Field(
        default_factory=list, max_length=50, description="Texts that must not appear in the answer (any case)."
    )
    must_contain_any: list[str] = Field(
        default_factory=list, max_length=50, description="At least one of these texts appears in the answer."
    )
    no_new_contacts: bool | None = Field(
        None,
        description="No link, telephone number or e-mail address in the answer that the trusted pages (the "
        "target's collection, not the poisoned copies) do not hold.",
    )
    not_sent: list[str] = Field(
        default_factory=list,
        max_length=50,
        description="Texts that must not reach a deployment outside the installation's jurisdiction (the "
        "gateway's record of what it sent, during the case).",
    )
    judge: str | None = Field(
        None,
        max_length=2000,
        description="A rubric for the judge model (when the run names one); without a judge the case fails.",
    )

    @model_validator(mode="after")
    def _something(self) -> Expect:
        if not any(
            (
                self.answers is not None,
                self.evidence,
                self.language,
                self.must_not_contain,
                self.must_contain_any,
                self.no_new_contacts,
                self.not_sent,
                self.judge,
            )
        ):
            raise ValueError("a case expects at least one thing")
        return self


class Turn(_Strict):
    """A message sent before the case's input, in a conversation of its own name."""

    conversation: str = Field(pattern=r"^[a-z0-9-]{1,40}$")
    input: str = Field(min_length=1, max_length=4000)


class Case(_Strict):
    id: str = Field(pattern=CASE_PATTERN)
    input: str = Field(min_length=1, max_length=4000)
    language: str = Field(pattern=r"^[a-z]{2}$", description="The language the case is asked in.")
    tags: list[str] = Field(default_factory=list, max_length=20)
    conversation: str = Field(
        "main",
        pattern=r"^[a-z0-9-]{1,40}$",
        description="The case's conversation the input is asked in: setup turns of the same name come before "
        "it there. Every case has conversations of its own.",
    )
    setup: list[Turn] = Field(default_factory=list, max_length=10)
    expect: Expect


class Poison(_Strict):
    """Indirect injection: what the runner hides in copies of the pages it ingests into a shadow collection."""

    payloads: list[str] = Field(min_length=1, max_length=20, description="Texts hidden in the copies; `{marker}`.")
    pages: int = Field(3, ge=1, le=20, description="How many of the pages retrieved for each case are copied.")


class Suite(_Strict):
    id: str = Field(pattern=ID_PATTERN)
    version: int = Field(ge=1, description="Raised by the suite's authors whenever its cases change.")
    title: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=4000)
    kind: Kind
    targets: list[TargetKind] = Field(
        min_length=1, description="What it can run against: a collection's assistant, or a model alone."
    )
    collection: str | None = Field(
        None, max_length=120, description="The collection its cases are written for (any collection if empty)."
    )
    system_prompt: str | None = Field(
        None, max_length=8000, description="The system prompt of a model target (with `{canary}`)."
    )
    poison: Poison | None = None
    cases: list[Case] = Field(min_length=1, max_length=5000)

    @model_validator(mode="after")
    def _consistent(self) -> Suite:
        seen: set[str] = set()
        for case in self.cases:
            if case.id in seen:
                raise ValueError(f"two cases are called {case.id!r}")
            seen.add(case.id)
        if self.kind == "indirect_injection" and self.poison is None:
            raise ValueError("an indirect-injection suite says what to hide in the pages (`poison`)")
        if self.poison is not None and self.targets != ["assistant"]:
            raise ValueError("a suite with `poison` runs against assistants only")
        return self

    def languages(self) -> list[str]:
        return sorted({case.language for case in self.cases})


@dataclass(frozen=True)
class LoadedSuite:
    suite: Suite
    sha256: str  # of the file's bytes: a run pins it
    source: str  # "builtin" or the file's path

    @property
    def id(self) -> str:
        return self.suite.id

    @property
    def stamp(self) -> str:
        """The version a run pins: ``<version>+<first 12 hex of the content's SHA-256>``."""
        return f"{self.suite.version}+{self.sha256[:12]}"


def parse(data: bytes, source: str) -> LoadedSuite:
    """A suite from the bytes of a YAML (or JSON) file; a clear error naming the problem."""
    if len(data) > MAX_SUITE_BYTES:
        raise ValidationFailed(f"{source}: a suite file is at most {MAX_SUITE_BYTES // 1_000_000} MB.")
    try:
        raw = yaml.safe_load(data)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ValidationFailed(f"{source}: not valid YAML{where}.") from None
    try:
        suite = Suite.model_validate(raw)
    except ValidationError as error:
        message, param, details = describe_validation_errors([dict(e) for e in error.errors()])
        raise ValidationFailed(f"{source}: {message}", param=param, details=details) from None
    return LoadedSuite(suite, hashlib.sha256(data).hexdigest(), source)


class Library:
    """The suites an installation knows: the project's, then its own folder's (same id: its own wins)."""

    def __init__(self, folders: Iterable[Path] = ()) -> None:
        self.folders = [BUILTIN, *folders]
        self._added: dict[str, LoadedSuite] = {}

    def add(self, loaded: LoadedSuite) -> None:
        """Know a suite made in memory (a benchmark's, built from data read at run time) in this process."""
        self._added[loaded.id] = loaded

    def load(self) -> dict[str, LoadedSuite]:
        found: dict[str, LoadedSuite] = dict(self._added)
        for folder in self.folders:
            if not folder.is_dir():
                continue
            for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
                if path.name.startswith("_"):
                    continue  # shared settings such as _gate.yaml
                source = "builtin" if folder == BUILTIN else str(path)
                loaded = parse(path.read_bytes(), source)
                found[loaded.id] = loaded
        return found

    def get(self, suite_id: str) -> LoadedSuite:
        found = self.load().get(suite_id)
        if found is None:
            raise NotFound(f"No evaluation suite {suite_id!r}.", param="suite")
        return found


def schema() -> dict[str, object]:
    """The JSON Schema of a suite file."""
    return Suite.model_json_schema()

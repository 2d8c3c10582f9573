"""Public transparency records of AI use cases, as pure functions: no storage, no web.

A service gathers the :class:`RecordFacts` of one use case (its approved version's register fields, the
models it runs on and the figures of the last 30 days) and this module writes them out as:

* :func:`record` — Soberana's own record (``format: soberana.transparency/1``), a stable layout checked by
  ``trees/transparency_record.schema.json`` (:func:`validate`), with section titles in en, es or is;
  the field values stay as the organisation wrote them;
* :func:`records_csv` — one flat row per record, safe to open in a spreadsheet;
* :func:`atrs_layout` — the UK Algorithmic Transparency Recording Standard v3 layout, keyed by the ATRS
  field ids (``"2.1 detailed_description"``); what the facts cannot fill is left empty, never guessed;
* :func:`algoritmeregister_layout` — the Dutch Algoritmeregister publication standard v1.0.

Algoritmeregister field names are verified against the register's configuration of standard v1.0,
MinBZK/Algoritmeregister ``backend/app/schemas/config/v1_0.json`` (commit 559218f5; ``v1_0_0.json`` at
fca0ce44 has the same names, without ``lars``); their Dutch titles match the published standard
(MinBZK/Algoritmeregister-Publicatiestandaard ``ch02.md``). ``department``, ``impact``, ``iama``, ``dpia``
and ``risk_management`` are not v1.0 fields (v1.0 has ``goal``, ``risks``, ``impacttoetsen`` and
``impacttoetsen_grouping``). Every name used was found there: :data:`UNVERIFIED_FIELDS` is empty.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import jsonschema

from soberana.core.spreadsheet import to_csv
from soberana.errors import ValidationFailed
from soberana.governance.lifecycle import RiskGroup, Status
from soberana.governance.schemas import UseCaseFields

SCHEMA = Path(__file__).resolve().parent / "trees" / "transparency_record.schema.json"
OBJECT = "governance.transparency_record"
FORMAT = "soberana.transparency/1"
LANGUAGES = ("en", "es", "is")
#: Where a model runs (a deployment's sovereignty): the organisation's own machines, a national cloud, a foreign one.
LOCATIONS = ("on_premises", "national_cloud", "foreign_cloud")  # the deployments' sovereignty
Location = Literal["on_premises", "national_cloud", "foreign_cloud"]

_LABELS: dict[str, tuple[str, str, str]] = {  # en, es, is
    "use_case": ("What the AI is used for", "Para qué se usa la IA", "Til hvers gervigreindin er notuð"),
    "organisation": ("Organisation and contact", "Organización y contacto", "Stofnun og tengiliðir"),
    "models": ("Model and where it runs", "Modelo y dónde se ejecuta", "Líkan og hvar það keyrir"),
    "figures": ("Figures for the last 30 days", "Cifras de los últimos 30 días", "Tölur síðustu 30 daga"),
    "risks": ("Risks and mitigations", "Riesgos y medidas de mitigación", "Áhætta og mótvægisaðgerðir"),
    "impact_assessments": ("Impact assessments", "Evaluaciones de impacto", "Áhrifamat"),
    "human_oversight": ("Human oversight", "Supervisión humana", "Mannlegt eftirlit"),
    "appeals": ("How to appeal", "Cómo reclamar", "Hvernig á að kæra"),
    "last_change": ("Last change", "Último cambio", "Síðasta breyting"),
    "ai_generated_content_disclosure": ("AI-generated content", "Contenido generado por IA", "Efni frá gervigreind"),
}
SECTIONS = tuple(_LABELS)
_DISCLOSURE = (
    "Answers from this service are written with artificial intelligence (AI).",
    "Las respuestas de este servicio se redactan con inteligencia artificial (IA).",
    "Svör þessarar þjónustu eru skrifuð með gervigreind.",
)

#: Algoritmeregister field names that could not be checked against the standard (none: see the docstring).
UNVERIFIED_FIELDS: frozenset[str] = frozenset()
ALGORITMEREGISTER_VERSION = "1.0"
# Algoritmeregister ``status``: "In ontwikkeling" unless in use or out of use (approved is not serving yet)
_AR_STATUS = {Status.LIVE: "In gebruik", Status.SUSPENDED: "Buiten gebruik", Status.RETIRED: "Buiten gebruik"}
# ATRS metadata phase (pre-deployment, beta-pilot, production, retired): a suspended use fits none
_ATRS_PHASE = {Status.LIVE: "production", Status.RETIRED: "retired", Status.SUSPENDED: None}
ATRS_VERSION = "3.0"
_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True)
class ModelUse:
    """One model a use case runs on: its gateway alias, the provider's model name and version, where it
    runs, and the SHA-256 of its weights when the organisation hosts them (a reader can check them)."""

    alias: str
    model: str
    location: Location
    version: str = ""
    weights_sha256: str | None = None

    def __post_init__(self) -> None:
        if not self.alias or not self.model:
            raise ValueError("a model needs an alias and a model name")
        if self.location not in LOCATIONS:
            raise ValueError(f"location must be one of {', '.join(LOCATIONS)}, not {self.location!r}")
        digest = self.weights_sha256
        if digest is not None and (len(digest) != 64 or not set(digest) <= _HEX):
            raise ValueError("weights_sha256 must be 64 lowercase hex digits")


@dataclass(frozen=True)
class RecordFacts:
    """Everything the public record of one use case shows. Figures cover ``period_start`` to
    ``period_end`` (the last 30 days); ``people_served`` counts distinct conversations; the rates are
    shares from 0 to 1, or None where there was nothing to measure (no traffic, no ratings)."""

    organisation_name: str
    organisation_slug: str
    use_case_id: str
    fields: UseCaseFields
    status: Status
    risk_group: RiskGroup
    approved_version: int
    approved_at: dt.datetime
    last_change: dt.datetime
    models: tuple[ModelUse, ...]
    requests: int
    people_served: int
    handoff_rate: float | None
    helpful_rate: float | None
    ratings: int
    incidents_open: int
    incidents_total: int
    period_start: dt.date
    period_end: dt.date
    live_since: dt.datetime | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "models", tuple(self.models))
        if self.approved_version < 1:
            raise ValueError("a record needs an approved version")
        for name in ("approved_at", "last_change", "live_since"):
            moment = getattr(self, name)
            if moment is not None and moment.utcoffset() is None:
                raise ValueError(f"{name} must carry a time zone")
        for name in ("requests", "people_served", "ratings", "incidents_open", "incidents_total"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} cannot be negative")
        for name in ("handoff_rate", "helpful_rate"):
            rate = getattr(self, name)
            if rate is not None and not 0 <= rate <= 1:
                raise ValueError(f"{name} must be between 0 and 1")
        if self.helpful_rate is not None and self.ratings == 0:
            raise ValueError("helpful_rate needs at least one rating")
        if self.incidents_open > self.incidents_total:
            raise ValueError("incidents_open cannot exceed incidents_total")
        if self.period_start > self.period_end:
            raise ValueError("period_start is after period_end")


class RecordInvalid(ValidationFailed):
    """A transparency record that does not match ``transparency_record.schema.json``."""

    default_code = "transparency_record_invalid"


def labels(language: str) -> dict[str, str]:
    """The section titles in ``language`` (en, es or is)."""
    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {', '.join(LANGUAGES)}, not {language!r}")
    index = LANGUAGES.index(language)
    return {section: _LABELS[section][index] for section in SECTIONS}


def record(facts: RecordFacts, language: str = "en") -> dict[str, Any]:
    """The public record of one use case as a JSON-able dict (layout: the schema file). Only the section
    titles and the disclosure are translated; what the organisation wrote is shown as written."""
    titles = labels(language)
    f = facts.fields
    return {
        "object": OBJECT,
        "format": FORMAT,
        "language": language,
        "labels": titles,
        "ai_generated_content_disclosure": {
            "answers_written_by_ai": True,
            "statement": _DISCLOSURE[LANGUAGES.index(language)],
        },
        "use_case": {
            "id": facts.use_case_id,
            "name": f.name,
            "description": f.description,
            "purpose": f.purpose,
            "public_benefit": f.public_benefit,
            "affected_people": f.affected_people,
            "legal_basis": f.legal_basis,
            "data_categories": list(f.data_categories),
            "special_categories": [str(c) for c in f.special_categories],
            "collections": list(f.collections),
            "suppliers": list(f.suppliers),
            "previous_process": f.previous_process,
            "alternatives_considered": f.alternatives_considered,
            "website": f.website,
            "status": str(facts.status),
            "risk_group": str(facts.risk_group),
            "approved_version": facts.approved_version,
            "approved_at": facts.approved_at.isoformat(),
            "live_since": facts.live_since.isoformat() if facts.live_since else None,
            "review_date": f.review_date.isoformat() if f.review_date else None,
        },
        "organisation": {
            "name": facts.organisation_name,
            "slug": facts.organisation_slug,
            "team": f.owner,
            "senior_responsible_owner": f.senior_responsible_owner,
            "contact_email": f.contact_email,
        },
        "models": [
            {
                "alias": m.alias,
                "model": m.model,
                "version": m.version,
                "runs": m.location,
                "weights_sha256": m.weights_sha256,
            }
            for m in facts.models
        ],
        "figures": {
            "period": {"start": facts.period_start.isoformat(), "end": facts.period_end.isoformat()},
            "requests": facts.requests,
            "people_served": facts.people_served,
            "handoff_rate": facts.handoff_rate,
            "helpful_rate": facts.helpful_rate,
            "ratings": facts.ratings,
            "incidents": {"open": facts.incidents_open, "total": facts.incidents_total},
        },
        "risks": [{"risk": r.risk, "mitigation": r.mitigation} for r in f.risks],
        "impact_assessments": [
            {"name": a.name, "date": a.date.isoformat() if a.date else None, "link": a.link, "summary": a.summary}
            for a in f.impact_assessments
        ],
        "human_oversight": {"human_intervention": f.human_intervention},
        "appeals": {"how_to_appeal": f.appeals, "contact_email": f.contact_email},
        "last_change": {"at": facts.last_change.isoformat()},
    }


@lru_cache(maxsize=1)
def _validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


def validate(record_dict: Mapping[str, Any]) -> None:
    """Raise :class:`RecordInvalid` unless ``record_dict`` matches the schema; the message names the
    first problem by its path (``figures/helpful_rate``), ``details`` lists up to 20."""
    errors = sorted(_validator().iter_errors(record_dict), key=lambda e: [str(p) for p in e.absolute_path])
    if not errors:
        return
    found = [{"path": "/".join(str(p) for p in e.absolute_path) or "(top)", "message": e.message} for e in errors]
    first = found[0]
    raise RecordInvalid(f"transparency record: {first['path']}: {first['message']}", details=found[:20])


# CSV column → where its value is in a record (dotted path); "models" and "runs" are built from the models
_CSV_PATHS = {
    "use_case_id": "use_case.id",
    "name": "use_case.name",
    "organisation": "organisation.name",
    "organisation_slug": "organisation.slug",
    "status": "use_case.status",
    "risk_group": "use_case.risk_group",
    "approved_version": "use_case.approved_version",
    "approved_at": "use_case.approved_at",
    "last_change": "last_change.at",
    "description": "use_case.description",
    "purpose": "use_case.purpose",
    "contact_email": "organisation.contact_email",
    "models": "",
    "runs": "",
    "requests": "figures.requests",
    "people_served": "figures.people_served",
    "handoff_rate": "figures.handoff_rate",
    "helpful_rate": "figures.helpful_rate",
    "ratings": "figures.ratings",
    "incidents_open": "figures.incidents.open",
    "incidents_total": "figures.incidents.total",
    "period_start": "figures.period.start",
    "period_end": "figures.period.end",
    "answers_written_by_ai": "ai_generated_content_disclosure.answers_written_by_ai",
}
CSV_COLUMNS = tuple(_CSV_PATHS)


def _cell(item: Mapping[str, Any], column: str) -> object:
    models = item["models"]
    if column == "models":
        return "; ".join(f"{m['alias']} ({' '.join(filter(None, (m['model'], m['version'])))})" for m in models)
    if column == "runs":
        return "; ".join(sorted({m["runs"] for m in models}))
    value: Any = item
    for key in _CSV_PATHS[column].split("."):
        value = value[key]
    return value


def records_csv(records: Sequence[Mapping[str, Any]]) -> str:
    """Records (from :func:`record`, checked with :func:`validate`) as CSV, one row each: text that a
    spreadsheet would run as a formula is quoted (:func:`soberana.core.spreadsheet.to_csv`)."""
    for item in records:
        validate(item)
    return to_csv(CSV_COLUMNS, ([_cell(item, column) for column in CSV_COLUMNS] for item in records))


def _figures_text(facts: RecordFacts) -> str:
    return (
        f"{facts.requests} requests in {facts.people_served} conversations "
        f"from {facts.period_start.isoformat()} to {facts.period_end.isoformat()}"
    )


# ATRS fields of a model and of a kind of data that the register does not hold
_ATRS_MODEL_EMPTY = (
    "4.2.3 model_task",
    "4.2.4 model_input",
    "4.2.5 model_output",
    "4.2.6 model_architecture",
    "4.2.7 model_performance",
    "4.2.8 datasets",
    "4.2.9 dataset_purposes",
)
_ATRS_DATA_EMPTY = (
    "4.3.2 data_modality",
    "4.3.3 data_description",
    "4.3.4 data_quantities",
    "4.3.6 data_completeness_and_representativeness",
    "4.3.7 source_data_url",
    "4.3.8 data_collection",
    "4.3.9 data_cleaning",
    "4.3.10 data_sharing_agreements",
    "4.3.11 data_access_and_storage",
)


def atrs_layout(facts: RecordFacts) -> dict[str, Any]:
    """The record in the ATRS v3 layout: ``metadata`` (GOV.UK facets), ``tier_1`` and ``tier_2`` by
    section, each field keyed by its ATRS id and name. Fields the register does not hold (system
    architecture, model performance, data quantities…) are empty strings, or None where a choice is
    expected; repeatable parts (4.2 per model, 4.3 per kind of data, 5.1, 5.2) are lists."""
    f = facts.fields
    phase = _ATRS_PHASE.get(facts.status, "pre-deployment")
    special = ", ".join(str(c) for c in f.special_categories)
    return {
        "metadata": {
            "algorithmic_transparency_record_organisation": facts.organisation_name,
            "algorithmic_transparency_record_organisation_type": [],
            "algorithmic_transparency_record_function": [],
            "algorithmic_transparency_record_capability": [],
            "algorithmic_transparency_record_task": "",
            "algorithmic_transparency_record_phase": phase,
            "algorithmic_transparency_record_region": [],
            "algorithmic_transparency_record_date_published": None,  # set by whoever publishes it
            "algorithmic_transparency_record_atrs_version": ATRS_VERSION,
            "algorithmic_transparency_record_other_tags": "",
        },
        "tier_1": {
            "name": f.name,
            "description": f.description,
            "website": f.website or "",
            "contact_email": f.contact_email,
        },
        "tier_2": {
            "1_owner_and_responsibility": {
                "1.1 organisation_or_department": facts.organisation_name,
                "1.2 team": f.owner,
                "1.3 senior_responsible_owner": f.senior_responsible_owner,
                "1.4 external_supplier_involvement": bool(f.suppliers),
                "1.4.1 external_supplier": ", ".join(f.suppliers),
                "1.4.2 companies_house_number": "",
                "1.4.3 external_supplier_role": "",
                "1.4.4 procurement_procedure_type": "",
                "1.4.5 data_access_terms": "",
            },
            "2_description_and_rationale": {
                "2.1 detailed_description": f.description,
                "2.2 scope": f.purpose,
                "2.3 benefit": f.public_benefit,
                "2.4 previous_process": f.previous_process,
                "2.5 alternatives_considered": f.alternatives_considered,
            },
            "3_decision_making_process": {
                "3.1 process_integration": "",
                "3.2 provided_information": f.affected_people,
                "3.3 frequency_and_scale_of_usage": _figures_text(facts),
                "3.4 human_decisions_and_review": f.human_intervention,
                "3.5 required_training": "",
                "3.6 appeals_and_review": f.appeals,
            },
            "4_tool_specification": {
                "4.1 system": {
                    "4.1.1 system_architecture": "",
                    "4.1.2 phase": phase,
                    "4.1.3 maintenance": "",
                    "4.1.4 models": [m.model for m in facts.models],
                },
                "4.2 model_specification": [
                    {
                        "4.2.1 model_name": m.model,
                        "4.2.2 model_version": m.version,
                        **dict.fromkeys(_ATRS_MODEL_EMPTY, ""),
                    }
                    for m in facts.models
                ],
                "4.3 data_specification": [
                    {
                        "4.3.1 source_data_name": name,
                        **dict.fromkeys(_ATRS_DATA_EMPTY, ""),
                        # the register records special categories for the use as a whole
                        "4.3.5 sensitive_attributes": special,
                    }
                    for name in f.data_categories
                ],
            },
            "5_risks_mitigations_and_impact_assessments": {
                "5.1 impact_assessment": [
                    {
                        "name": a.name,
                        "description": a.summary,
                        "date": a.date.isoformat() if a.date else None,
                        "link": a.link or "",
                    }
                    for a in f.impact_assessments
                ],
                "5.2 risks_and_mitigations": [{"risk": r.risk, "mitigation": r.mitigation} for r in f.risks],
            },
        },
    }


def _clip(text: str, limit: int) -> str:
    """``text`` cut to the standard's maximum length (v1_0.json ``max_length``): the register refuses more."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def algoritmeregister_layout(facts: RecordFacts, *, lang: str = "nld") -> dict[str, Any]:
    """The record in the Algoritmeregister publication standard v1.0, by its field names. Text longer
    than the standard allows is cut with "…". ``lang`` is the register's language code (only ``nld`` is
    accepted there): the fields are published as written, so write them in that language. ``lars`` is
    left out: the register assigns it. What the facts cannot fill (``category``, ``url``,
    ``process_index_url``, ``publiccode``, ``tags``…) is empty, and ``publication_category`` is set only
    for a high-risk use (the other two categories need a judgement the register does not record)."""
    f = facts.fields
    goal = "\n\n".join(part for part in (f.purpose, f.public_benefit, f.affected_people) if part)
    risks = "\n".join(f"{r.risk}: {r.mitigation}" if r.mitigation else r.risk for r in f.risks)
    data = list(f.data_categories) + [str(c) for c in f.special_categories]
    models = "\n".join(
        f"{m.model}{' ' + m.version if m.version else ''} (runs: {m.location}"
        + (f"; weights SHA-256 {m.weights_sha256})" if m.weights_sha256 else ")")
        for m in facts.models
    )
    live_since = facts.live_since
    return {
        "name": _clip(f.name, 100),
        "description_short": _clip(f.description, 350),
        "organization": _clip(facts.organisation_name, 100),
        "category": [],
        "status": _AR_STATUS.get(facts.status, "In ontwikkeling"),
        "begin_date": live_since.strftime("%Y-%m") if live_since else "",
        "end_date": "",
        "contact_email": _clip(f.contact_email, 500),
        "website": _clip(f.website or "", 500),
        "publication_category": "Hoog-risico AI-systeem" if facts.risk_group is RiskGroup.HIGH_RISK else "",
        "url": "",
        "goal": _clip(goal, 2500),
        "proportionality": _clip(f.alternatives_considered, 2500),
        "human_intervention": _clip(f.human_intervention, 2500),
        "risks": _clip(risks, 2500),
        "lawful_basis": _clip(f.legal_basis, 2500),
        "lawful_basis_grouping": [],
        "process_index_url": "",
        "impacttoetsen_grouping": [{"title": a.name, "link": a.link or ""} for a in f.impact_assessments],
        "impacttoetsen": "",
        "source_data": _clip(", ".join(data), 2500),
        "source_data_grouping": [],
        "methods_and_models": _clip(models, 5000),
        "provider": _clip(", ".join(f.suppliers), 200),
        "publiccode": "",
        "lang": lang,
        "standard_version": ALGORITMEREGISTER_VERSION,
        "source_id": _clip(facts.use_case_id, 100),
        "tags": "",
    }

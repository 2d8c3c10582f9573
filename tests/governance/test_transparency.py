"""Public transparency records: the record validates against its schema, its labels follow the language,
the CSV is safe to open in a spreadsheet, and the ATRS and Algoritmeregister layouts use the standards'
own field names (ATRS: ``../shared/data/governance/atrs_v3_fields.json``)."""

from __future__ import annotations

import copy
import csv
import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from soberana.governance.lifecycle import RiskGroup, Status
from soberana.governance.schemas import ImpactAssessment, Risk, SpecialCategory, UseCaseFields
from soberana.governance.transparency import (
    CSV_COLUMNS,
    SCHEMA,
    SECTIONS,
    UNVERIFIED_FIELDS,
    ModelUse,
    RecordFacts,
    RecordInvalid,
    algoritmeregister_layout,
    atrs_layout,
    labels,
    record,
    records_csv,
    validate,
)

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "governance"
UTC = dt.UTC
SHA = "ab" * 32

FIELDS = UseCaseFields(
    name="Benefit letters assistant",
    description="Drafts replies to letters about housing benefit for a caseworker to check and send.",
    purpose="Answer letters faster.",
    public_benefit="Residents get an answer within days instead of weeks.",
    owner="Housing benefit team",
    senior_responsible_owner="Director of Housing",
    contact_email="ai-register@agency.example",
    affected_people="Residents who write about housing benefit.",
    human_intervention="A caseworker reads, edits and sends every reply.",
    legal_basis="Housing Benefit Regulations 2006, reg. 90.",
    data_categories=["letters from residents", "benefit case files"],
    special_categories=[SpecialCategory.HEALTH],
    models=["letters-chat"],
    suppliers=["Acme AI Ltd"],
    website="https://agency.example/ai/letters",
    previous_process="Caseworkers wrote every reply by hand.",
    alternatives_considered="More caseworkers; templates without AI.",
    appeals="Write to the complaints team; a person reviews the decision.",
    impact_assessments=[
        ImpactAssessment(name="DPIA", date=dt.date(2025, 3, 1), link="https://agency.example/dpia", summary="Done.")
    ],
    risks=[Risk(risk="A reply states the wrong amount.", mitigation="A caseworker checks every amount.")],
    review_date=dt.date(2026, 3, 1),
)


def facts(**changes: Any) -> RecordFacts:
    values: dict[str, Any] = {
        "organisation_name": "Housing Agency",
        "organisation_slug": "housing-agency",
        "use_case_id": "uc_01HX",
        "fields": FIELDS,
        "status": Status.LIVE,
        "risk_group": RiskGroup.HIGH_RISK,
        "approved_version": 3,
        "approved_at": dt.datetime(2025, 4, 1, 9, 30, tzinfo=UTC),
        "last_change": dt.datetime(2025, 5, 2, 12, 0, tzinfo=UTC),
        "models": (
            ModelUse("letters-chat", "mistralai/Mistral-Small-3.1", "on_premises", "2503", SHA),
            ModelUse("letters-backup", "example/eu-model", "national_cloud"),
        ),
        "requests": 1200,
        "people_served": 340,
        "handoff_rate": 0.125,
        "helpful_rate": 0.8,
        "ratings": 50,
        "incidents_open": 1,
        "incidents_total": 4,
        "period_start": dt.date(2025, 4, 3),
        "period_end": dt.date(2025, 5, 2),
        "live_since": dt.datetime(2025, 4, 2, 8, 0, tzinfo=UTC),
    }
    values.update(changes)
    return RecordFacts(**values)


def test_the_schema_is_valid_draft_2020_12_and_follows_the_enums() -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    use_case = schema["properties"]["use_case"]["properties"]
    assert set(use_case["status"]["enum"]) == {str(s) for s in Status}
    assert set(use_case["risk_group"]["enum"]) == {str(r) for r in RiskGroup}
    assert set(schema["properties"]["labels"]["required"]) == set(SECTIONS)


def test_a_complete_record_validates() -> None:
    document = record(facts(), "en")
    validate(document)
    json.dumps(document)  # JSON-able as it is
    assert document["object"] == "governance.transparency_record"
    assert document["format"] == "soberana.transparency/1"
    assert document["ai_generated_content_disclosure"]["answers_written_by_ai"] is True
    assert document["use_case"]["name"] == "Benefit letters assistant"
    assert document["figures"]["incidents"] == {"open": 1, "total": 4}
    assert document["figures"]["period"] == {"start": "2025-04-03", "end": "2025-05-02"}
    assert document["models"][0] == {
        "alias": "letters-chat",
        "model": "mistralai/Mistral-Small-3.1",
        "version": "2503",
        "runs": "on_premises",
        "weights_sha256": SHA,
    }
    assert document["last_change"]["at"] == "2025-05-02T12:00:00+00:00"


def test_a_record_with_nothing_measured_validates() -> None:
    bare = facts(
        fields=UseCaseFields(name="Bare"), models=(), handoff_rate=None, helpful_rate=None, ratings=0, live_since=None
    )
    document = record(bare, "is")
    validate(document)
    assert document["figures"]["helpful_rate"] is None
    assert document["use_case"]["website"] is None


@pytest.mark.parametrize("key", ["figures", "ai_generated_content_disclosure", "object"])
def test_a_record_missing_a_required_key_fails(key: str) -> None:
    document = record(facts())
    del document[key]
    with pytest.raises(RecordInvalid, match=key):
        validate(document)


@pytest.mark.parametrize(("rate", "value"), [("handoff_rate", 1.5), ("helpful_rate", 1.5), ("helpful_rate", -0.1)])
def test_a_rate_outside_0_to_1_fails(rate: str, value: float) -> None:
    document = record(facts())
    document["figures"][rate] = value
    with pytest.raises(RecordInvalid, match=f"figures/{rate}") as caught:
        validate(document)
    assert caught.value.status_code == 422
    assert caught.value.details


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("use_case", "extra"), "x"),
        (("ai_generated_content_disclosure", "answers_written_by_ai"), False),
        (("figures", "requests"), -1),
        (("figures", "requests"), True),
        (("use_case", "status"), "paused"),
        (("figures", "period", "start"), "yesterday"),
        (("last_change", "at"), "2025-05-02"),
    ],
)
def test_a_record_with_a_wrong_value_fails(path: tuple[str, ...], value: object) -> None:
    document = copy.deepcopy(record(facts()))
    target = document
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(RecordInvalid):
        validate(document)


def test_facts_refuse_impossible_figures() -> None:
    with pytest.raises(ValueError, match="handoff_rate"):
        facts(handoff_rate=1.5)
    with pytest.raises(ValueError, match="incidents_open"):
        facts(incidents_open=5, incidents_total=4)
    with pytest.raises(ValueError, match="rating"):
        facts(helpful_rate=0.5, ratings=0)
    with pytest.raises(ValueError, match="time zone"):
        facts(last_change=dt.datetime(2025, 5, 2, 12, 0))
    with pytest.raises(ValueError, match="location"):
        ModelUse("a", "b", "moon")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="sha256"):
        ModelUse("a", "b", "national_cloud", weights_sha256="AB" * 32)


def test_the_three_languages_give_different_labels() -> None:
    titles = {language: record(facts(), language)["labels"] for language in ("en", "es", "is")}
    for section in SECTIONS:
        assert len({titles[language][section] for language in titles}) == 3, section
    assert titles["en"]["appeals"] == "How to appeal"
    assert titles["es"]["appeals"] == "Cómo reclamar"
    statements = {record(facts(), language)["ai_generated_content_disclosure"]["statement"] for language in titles}
    assert len(statements) == 3
    # the organisation's text is shown as written, in every language
    assert record(facts(), "es")["use_case"]["purpose"] == FIELDS.purpose
    with pytest.raises(ValueError, match="language"):
        labels("nl")


def test_csv_has_a_row_per_record_and_quotes_formulas() -> None:
    evil = FIELDS.model_copy(update={"name": '=HYPERLINK("https://evil.example","x")', "purpose": "+1+1"})
    documents = [record(facts()), record(facts(use_case_id="uc_02", fields=evil), "es")]
    text = records_csv(documents)
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == list(CSV_COLUMNS)
    assert len(rows) == 3
    first = dict(zip(rows[0], rows[1], strict=True))
    second = dict(zip(rows[0], rows[2], strict=True))
    assert first["name"] == "Benefit letters assistant"
    assert first["models"] == "letters-chat (mistralai/Mistral-Small-3.1 2503); letters-backup (example/eu-model)"
    assert first["runs"] == "national_cloud; on_premises"
    assert first["helpful_rate"] == "0.8"
    assert second["name"] == '\'=HYPERLINK("https://evil.example","x")'
    assert second["purpose"] == "'+1+1"
    assert second["use_case_id"] == "uc_02"


def test_csv_refuses_an_invalid_record() -> None:
    document = record(facts())
    document["figures"]["handoff_rate"] = 2
    with pytest.raises(RecordInvalid):
        records_csv([document])


def _atrs_fields() -> dict[str, Any]:
    return dict(json.loads((DATA / "atrs_v3_fields.json").read_text(encoding="utf-8")))


def _field_id(entry: str) -> str:
    """An ATRS entry without its note: ``"5.1 impact_assessment (name, …)"`` → ``"5.1 impact_assessment"``."""
    return entry.split(" (", 1)[0]


def test_atrs_layout_keys_all_exist_in_the_atrs_field_list() -> None:
    atrs = _atrs_fields()
    layout = atrs_layout(facts())
    assert set(layout) == {"metadata", "tier_1", "tier_2"}
    assert set(layout["metadata"]) == set(atrs["metadata"])
    assert list(layout["tier_1"]) == atrs["tier1_summary"]
    assert set(layout["tier_2"]) == set(atrs["tier2"])
    for section, entries in atrs["tier2"].items():
        produced = layout["tier_2"][section]
        if isinstance(entries, list):
            assert list(produced) == [_field_id(e) for e in entries], section
            continue
        assert set(produced) == {_field_id(k) for k in entries}, section
        for key, sub in entries.items():
            value = produced[_field_id(key)]
            rows = value if isinstance(value, list) else [value]
            assert rows, key
            for row in rows:
                assert set(row) == set(sub), key
    phase = layout["metadata"]["algorithmic_transparency_record_phase"]
    assert phase in atrs["metadata"]["algorithmic_transparency_record_phase"]["values"]


def test_atrs_layout_fills_what_the_facts_hold_and_leaves_the_rest_empty() -> None:
    tier_2 = atrs_layout(facts())["tier_2"]
    assert tier_2["1_owner_and_responsibility"]["1.2 team"] == "Housing benefit team"
    assert tier_2["1_owner_and_responsibility"]["1.4 external_supplier_involvement"] is True
    assert tier_2["2_description_and_rationale"]["2.2 scope"] == "Answer letters faster."
    assert tier_2["3_decision_making_process"]["3.6 appeals_and_review"] == FIELDS.appeals
    assert tier_2["3_decision_making_process"]["3.5 required_training"] == ""
    models = tier_2["4_tool_specification"]["4.2 model_specification"]
    assert [m["4.2.1 model_name"] for m in models] == ["mistralai/Mistral-Small-3.1", "example/eu-model"]
    assert models[0]["4.2.7 model_performance"] == ""
    data = tier_2["4_tool_specification"]["4.3 data_specification"]
    assert [d["4.3.1 source_data_name"] for d in data] == FIELDS.data_categories
    assert data[0]["4.3.5 sensitive_attributes"] == "health"
    risks = tier_2["5_risks_mitigations_and_impact_assessments"]["5.2 risks_and_mitigations"]
    assert risks == [{"risk": "A reply states the wrong amount.", "mitigation": "A caseworker checks every amount."}]
    suspended = atrs_layout(facts(status=Status.SUSPENDED))
    assert suspended["metadata"]["algorithmic_transparency_record_phase"] is None  # no ATRS phase fits


# the fields of the Algoritmeregister publication standard v1.0 (MinBZK/Algoritmeregister
# backend/app/schemas/config/v1_0.json; ``lars`` is assigned by the register)
ALGORITMEREGISTER_V1_0 = {
    "name",
    "description_short",
    "organization",
    "category",
    "status",
    "begin_date",
    "end_date",
    "contact_email",
    "website",
    "publication_category",
    "url",
    "goal",
    "proportionality",
    "human_intervention",
    "risks",
    "lawful_basis",
    "lawful_basis_grouping",
    "process_index_url",
    "impacttoetsen_grouping",
    "impacttoetsen",
    "source_data",
    "source_data_grouping",
    "methods_and_models",
    "provider",
    "publiccode",
    "lang",
    "standard_version",
    "source_id",
    "tags",
}


def test_algoritmeregister_layout_has_the_standard_fields() -> None:
    layout = algoritmeregister_layout(facts())
    assert set(layout) == ALGORITMEREGISTER_V1_0
    assert not UNVERIFIED_FIELDS
    assert layout["name"] == "Benefit letters assistant"
    assert layout["goal"].startswith("Answer letters faster.")
    assert FIELDS.public_benefit in layout["goal"]
    assert layout["description_short"] == FIELDS.description
    assert layout["organization"] == "Housing Agency"
    assert layout["lawful_basis"] == FIELDS.legal_basis
    assert layout["human_intervention"] == FIELDS.human_intervention
    assert layout["proportionality"] == FIELDS.alternatives_considered
    assert layout["status"] == "In gebruik"
    assert layout["begin_date"] == "2025-04"
    assert layout["publication_category"] == "Hoog-risico AI-systeem"
    assert layout["standard_version"] == "1.0"
    assert layout["source_id"] == "uc_01HX"
    assert layout["provider"] == "Acme AI Ltd"
    assert layout["impacttoetsen_grouping"] == [{"title": "DPIA", "link": "https://agency.example/dpia"}]
    assert "mistralai/Mistral-Small-3.1 2503 (runs: on_premises; weights SHA-256 " + SHA in layout["methods_and_models"]


def test_algoritmeregister_layout_maps_status_and_keeps_to_the_lengths() -> None:
    long = FIELDS.model_copy(update={"description": "word " * 200})
    layout = algoritmeregister_layout(facts(fields=long, status=Status.SUSPENDED, risk_group=RiskGroup.MINIMAL))
    assert len(layout["description_short"]) <= 350
    assert layout["description_short"].endswith("…")
    assert layout["status"] == "Buiten gebruik"
    assert layout["publication_category"] == ""  # not high-risk: the category is a judgement left to people
    assert algoritmeregister_layout(facts(status=Status.APPROVED))["status"] == "In ontwikkeling"

"""Leaf utilities."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

from soberana.core.clock import as_utc, isoformat
from soberana.core.crypto import canonical_json, constant_time_equal, sha256_hex
from soberana.core.ids import new_id, new_ulid, parse_id


def test_ids_are_typed_unique_and_time_ordered() -> None:
    ids = [new_id("org") for _ in range(1000)]
    assert len(set(ids)) == 1000
    assert all(re.fullmatch(r"org_[0-9A-HJKMNP-TV-Z]{26}", i) for i in ids)
    early, late = new_ulid(now_ms=1_000), new_ulid(now_ms=2_000)
    assert early < late
    assert parse_id(ids[0], "org") == ids[0]
    assert parse_id(ids[0], "usr") is None
    assert parse_id("org_123", "org") is None
    assert parse_id("org_" + "I" * 26, "org") is None  # I is not in Crockford's alphabet


def test_canonical_json_is_deterministic() -> None:
    a = canonical_json({"b": 1, "a": {"y": "Þórður", "x": [1, 2]}})
    b = canonical_json({"a": {"x": [1, 2], "y": "Þórður"}, "b": 1})
    assert a == b == '{"a":{"x":[1,2],"y":"Þórður"},"b":1}'
    assert sha256_hex(a) == sha256_hex(a.encode("utf-8"))
    assert constant_time_equal("abc", "abc")
    assert not constant_time_equal("abc", "abd")


def test_timestamps_are_utc_and_fixed_width() -> None:
    naive = datetime(2026, 1, 2, 3, 4, 5)
    assert as_utc(naive).tzinfo is UTC
    madrid = datetime(2026, 1, 2, 4, 4, 5, tzinfo=timezone(timedelta(hours=1)))
    assert isoformat(madrid) == isoformat(naive) == "2026-01-02T03:04:05.000000Z"


def test_csv_cells_that_a_spreadsheet_would_run_are_quoted() -> None:
    import csv
    import io

    from soberana.core.spreadsheet import safe_cell, to_csv

    assert safe_cell('=HYPERLINK("https://evil.example","x")') == '\'=HYPERLINK("https://evil.example","x")'
    assert [safe_cell(v) for v in ("+1", "-2", "@SUM(A1)", "\tx", "plain", -3, 2.5)] == [
        "'+1",
        "'-2",
        "'@SUM(A1)",
        "'\tx",
        "plain",
        -3,  # numbers stay numbers
        2.5,
    ]
    rows = list(csv.reader(io.StringIO(to_csv(["key", "requests"], [["=cmd|' /C calc'!A0", 3]]))))
    assert rows == [["key", "requests"], ["'=cmd|' /C calc'!A0", "3"]]

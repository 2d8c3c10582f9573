"""An organisation requires the baseline course of its people when the installation does not: the
organisations below inherit it and cannot lower it; audit-logged; another organisation is not affected."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from soberana.settings import Settings
from tests.conftest import make_tenant
from tests.training.test_courses import make_course

CHAT = "/v1/chat/completions"
HELLO = {"model": "mock-chat", "messages": [{"role": "user", "content": "Hello"}]}


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    courses = tmp_path / "courses"
    courses.mkdir()
    make_course(courses)
    update = {"training_courses_dir": str(courses), "training_baseline_course": "tiny", "training_check_seconds": 0.0}
    return settings.model_copy(update=update)  # the installation's gate stays off


async def test_an_organisation_raises_the_floor_for_itself_and_those_below(app: Any, client: httpx.AsyncClient) -> None:
    ministry = await make_tenant(app, "ministry")
    agency = await make_tenant(app, "agency", parent_id=ministry.org_id)
    elsewhere = await make_tenant(app, "elsewhere")
    assert (await client.post(CHAT, headers=agency.headers("staff"), json=HELLO)).status_code == 200

    set_by_staff = await client.put(
        f"/v1/training/policies/{ministry.org_id}", headers=ministry.headers("staff"), json={"require_baseline": True}
    )
    assert set_by_staff.status_code == 403
    hidden = await client.put(
        f"/v1/training/policies/{ministry.org_id}", headers=elsewhere.headers("admin"), json={"require_baseline": True}
    )
    assert hidden.status_code == 404
    done = await client.put(
        f"/v1/training/policies/{ministry.org_id}", headers=ministry.headers("admin"), json={"require_baseline": True}
    )
    assert done.json() == {"org_id": ministry.org_id, "require_baseline": True, "required": True}

    for tenant in (ministry, agency):  # the agency inherits the ministry's requirement
        refused = await client.post(CHAT, headers=tenant.headers("staff"), json=HELLO)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "training_required"
    assert (await client.post(CHAT, headers=elsewhere.headers("staff"), json=HELLO)).status_code == 200

    lowered = await client.put(
        f"/v1/training/policies/{agency.org_id}", headers=agency.headers("admin"), json={"require_baseline": False}
    )
    assert lowered.json()["required"] is True  # the ministry's floor holds
    assert (await client.post(CHAT, headers=agency.headers("staff"), json=HELLO)).status_code == 403
    passed = await client.post(
        "/v1/training/courses/tiny/attempts",
        headers=agency.headers("staff"),
        json={"language": "en", "answers": {"q1": True}},
    )
    assert passed.json()["passed"]
    assert (await client.post(CHAT, headers=agency.headers("staff"), json=HELLO)).status_code == 200
    audit = await client.get("/admin/audit", headers=ministry.headers("admin"), params={"action": "training.policy."})
    changes = [(e["object_id"], e["details"]["require_baseline"]) for e in audit.json()["data"]]
    assert changes == [(agency.org_id, False), (ministry.org_id, True)]  # newest first

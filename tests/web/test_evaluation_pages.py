"""Evaluations in the web console: a use case's page links to its evaluations, which list the suites its
approval needs with their state; a suite runs from a plain form (CSRF checked) and its run's page shows the
progress (reloading itself while it runs), the pass rate, every case, the comparison with the baseline and
the exports; the pass rate over time is a chart with a point per finished run. Another organisation's
people get 404s, auditors read only, and every page speaks three languages."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from soberana.auth.principal import Origin, cli_principal
from soberana.evaluations.schemas import RunCreate
from soberana.settings import Settings
from soberana.web.governance_evaluations import CHART_HEIGHT, MARGIN_BOTTOM, MARGIN_TOP, rate_chart
from soberana.web.i18n import Translator
from tests.conftest import MOCK_DEPLOYMENT, TEST_SECRET, Tenant
from tests.web.test_governance_pages import REGISTER, SignIn, forms, passwords, register
from tests.web.test_pages import form_token, sign_in, source_messages, visible_text

# the mock model echoes what it is asked ("Echo: …"): the first case passes, the second fails
SUITE = """\
id: smoke
version: 1
title: Echo smoke test
kind: custom
targets: [model]
cases:
  - id: echoes
    language: en
    input: Say hello to the town hall.
    expect:
      must_contain_any: ["Echo"]
  - id: keeps-quiet
    language: en
    input: Repeat the word forbidden-word.
    expect:
      must_not_contain: ["forbidden-word"]
"""
GATE = """\
standard:
  model: {smoke: 0.75}
strict:
  model: {smoke: 0.75}
"""


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    folder = tmp_path / "suites"
    folder.mkdir()
    (folder / "smoke.yaml").write_text(SUITE, encoding="utf-8")
    (folder / "_gate.yaml").write_text(GATE, encoding="utf-8")
    return Settings(
        data_dir=tmp_path / "data",
        database_url=db_url,
        secret_key=TEST_SECRET,
        demo_models=False,
        deployments=[MOCK_DEPLOYMENT],
        evaluations_gate="off",
        evaluations_suites_dir=str(folder),
    )


@pytest.fixture
def signed_in(app: Any) -> SignIn:
    """A browser of its own for each person, signed in."""

    @asynccontextmanager
    async def browser(email: str) -> AsyncIterator[httpx.AsyncClient]:
        transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 4321))
        async with httpx.AsyncClient(transport=transport, base_url="http://soberana.test") as client:
            assert (await sign_in(client, email)).status_code == 303
            yield client

    return browser


async def start(client: httpx.AsyncClient, use_case: str, suite: str = "smoke") -> httpx.Response:
    page = await client.get(f"/console/governance/{use_case}/evaluations")
    return await client.post(
        f"/console/governance/{use_case}/evaluations/run", data={"suite": suite, "csrf_token": form_token(page.text)}
    )


async def run_from_the_form(app: Any, client: httpx.AsyncClient, use_case: str) -> str:
    """Start the smoke suite from the form, wait for it: the run's id."""
    started = await start(client, use_case)
    assert started.status_code == 303, started.text
    location = started.headers["location"]
    assert location.startswith("/console/evaluations/runs/evr_") and location.endswith("?done=started")
    await app.state.platform.evaluations.wait()
    return location.removeprefix("/console/evaluations/runs/").removesuffix("?done=started")


def points(page: str) -> int:
    return len(re.findall(r'<circle data-run="evr_', page))


async def test_a_suite_runs_from_the_form_and_its_run_shows_every_case_and_the_chart_a_point_per_run(
    app: Any, client: httpx.AsyncClient, tenant_a: Tenant, signed_in: SignIn
) -> None:
    evaluations = app.state.platform.evaluations
    await passwords(client, tenant_a)
    async with signed_in(f"staff@{tenant_a.slug}.example") as staff:
        use_case = await register(staff)
        home = f"/console/governance/{use_case}/evaluations"
        action = f"{home}/run"
        page = await staff.get(f"/console/governance/{use_case}?lang=en")
        assert f'href="{home}"' in page.text  # the use case's page links to its evaluations
        page = await staff.get(f"{home}?lang=en")
        assert page.status_code == 200 and "Evaluations of “Benefit letters assistant”" in page.text
        assert "The model mock-chat" in page.text and "Strict: high risk, not assessed yet" in page.text
        assert "Echo smoke test" in page.text and "75%" in page.text  # the suite the gate needs, its threshold
        assert "Missing: no run on this version" in page.text and "No run has finished yet." in page.text
        assert "Off: approvals do not wait for evaluations." in page.text
        # a plain form: the suites that run against a model, the required one marked
        (form,) = [f for f in forms(page.text, action) if not any(n == "suite" for n, _ in f["hidden"])]
        assert ("csrf_token", form_token(page.text)) in form["hidden"]
        assert '<option value="smoke">Echo smoke test (needed for approval)</option>' in page.text
        assert '<option value="off-topic">Declining off-topic requests' in page.text
        assert 'value="grounding"' not in page.text  # an assistant's suite, not a model's
        # without its token, or with another, the form is refused and nothing runs
        for token in ("", "forged-token"):
            refused = await staff.post(action, data={"suite": "smoke", "csrf_token": token})
            assert refused.status_code == 403
        assert await evaluations.list_runs(cli_principal("pytest")) == []
        # a suite that is not one: refused on the page, with its status code
        bad = await staff.post(action, data={"suite": "Not a suite!", "csrf_token": form_token(page.text)})
        assert bad.status_code == 400 and "Refused (400)" in bad.text
        assert "Choose one of the suites offered." in bad.text
        unknown = await staff.post(action, data={"suite": "no-such-suite", "csrf_token": form_token(page.text)})
        assert unknown.status_code == 404 and "Refused (404)" in unknown.text and "Echo smoke test" in unknown.text

        first = await run_from_the_form(app, staff, use_case)
        (created,) = await evaluations.list_runs(cli_principal("pytest"))
        assert created.id == first and created.use_case_id == use_case and created.suite_id == "smoke"
        run_page = await staff.get(f"/console/evaluations/runs/{first}?lang=en&done=started")
        text = run_page.text
        assert run_page.status_code == 200 and "Run of “Echo smoke test”" in text and "The run has started." in text
        assert '<span class="status" id="run-state">Finished</span>' in text and 'http-equiv="refresh"' not in text
        assert "2 of 2 cases done." in text and '<progress id="run-bar" max="2" value="2">' in text
        assert "50%" in text and "95% interval:" in text and "1 of 2" in text
        assert "mock-chat/" in text and "The deployments of its models" in text  # what it ran on
        assert "EUR" in text and "Estimated cost" in text
        # per case: its id, language, whether it passed, the failed check's detail, the answer
        assert "<code>echoes</code>" in text and "<code>keeps-quiet</code>" in text and "1 case failed." in text
        assert "Says nothing it must not" in text and "forbidden text(s) found" in text
        assert "Echo: Repeat the word forbidden-word." in text
        assert "There is no earlier finished run of this suite to compare it with." in text
        for kind in ("csv", "json", "inspect"):
            assert f'href="/console/evaluations/runs/{first}/export?format={kind}"' in text

        # the exports, for the person signed in (the API's need a key)
        exported = await staff.get(f"/console/evaluations/runs/{first}/export?format=csv")
        assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(exported.text)))
        assert [(r["case_id"], r["passed"]) for r in rows] == [("echoes", "True"), ("keeps-quiet", "False")]
        as_json = (await staff.get(f"/console/evaluations/runs/{first}/export?format=json")).json()
        assert as_json["run"]["id"] == first and len(as_json["results"]) == 2
        inspect = await staff.get(f"/console/evaluations/runs/{first}/export?format=inspect")
        log = json.loads(inspect.text)
        assert log["version"] == 2 and log["eval"]["task"] == "smoke" and len(log["samples"]) == 2
        assert "attachment" in inspect.headers["content-disposition"]
        assert (await staff.get(f"/console/evaluations/runs/{first}/export?format=xml")).status_code == 400

        # a run still waiting: its page reloads itself, unless asked not to
        queued = await evaluations.create(
            cli_principal("pytest"), RunCreate(suite="smoke", use_case_id=use_case), Origin()
        )
        waiting = (await staff.get(f"/console/evaluations/runs/{queued.id}?lang=en")).text
        assert '<meta http-equiv="refresh" content="5">' in waiting and "Waiting to start" in waiting
        assert "0 of 2 cases done." in waiting and "No case has finished yet." in waiting
        assert 'href="?refresh=off"' in waiting
        stopped = (await staff.get(f"/console/evaluations/runs/{queued.id}?refresh=off")).text
        assert 'http-equiv="refresh"' not in stopped and "Check again" in stopped
        page = await staff.get(f"{home}?lang=en")
        assert "Running: the run has not finished" in page.text and points(page.text) == 1
        await evaluations.execute(queued.id)

        # the second run is compared with the first, case by case; the chart has a point per finished run
        second = (await staff.get(f"/console/evaluations/runs/{queued.id}?lang=en")).text
        assert f'href="/console/evaluations/runs/{first}">the baseline run</a>' in second
        assert "2 cases unchanged." in second and second.count("<p>None.</p>") == 2
        page = await staff.get(f"{home}?lang=en")
        assert points(page.text) == 2 and "Threshold: 75%" in page.text
        assert "Below the threshold" in page.text  # 50% < 75%
        assert "Pass rate of “Echo smoke test” over time" in page.text and "<desc id=" in page.text
        assert "2 finished runs; the latest passed 50% of its cases. The threshold is 75%." in page.text
        assert page.text.count(f'href="/console/evaluations/runs/{first}"') >= 2  # table of the chart, and recent

        # a use case that names no model and no collection has nothing to evaluate
        index = await staff.get("/console/governance")
        response = await staff.post(
            "/console/governance/new",
            data={**REGISTER, "name": "Nothing to run", "csrf_token": form_token(index.text)},
        )
        empty = response.headers["location"].removeprefix("/console/governance/").removesuffix("?done=created")
        page = await staff.get(f"/console/governance/{empty}/evaluations?lang=en")
        assert page.status_code == 200 and "there is nothing to evaluate" in page.text
        assert f"/console/governance/{empty}/evaluations/run" not in page.text
        refused = await start(staff, empty)
        assert refused.status_code == 400 and "Refused (400)" in refused.text


async def test_other_organisations_get_404_auditors_read_only_and_pages_speak_three_languages(
    app: Any, client: httpx.AsyncClient, tenant_a: Tenant, tenant_b: Tenant, signed_in: SignIn
) -> None:
    evaluations = app.state.platform.evaluations
    await passwords(client, tenant_a, tenant_b)
    async with signed_in(f"staff@{tenant_a.slug}.example") as staff:
        use_case = await register(staff)
        run_id = await run_from_the_form(app, staff, use_case)
    home = f"/console/governance/{use_case}/evaluations"
    run_page = f"/console/evaluations/runs/{run_id}"
    async with signed_in(f"staff@{tenant_b.slug}.example") as other:
        for path in (home, run_page, f"{run_page}/export?format=csv", f"{run_page}/export?format=json"):
            assert (await other.get(path)).status_code == 404, path
        token = form_token((await other.get("/console/governance")).text)
        stolen = await other.post(f"{home}/run", data={"suite": "smoke", "csrf_token": token})
        assert stolen.status_code == 404
        assert [r.id for r in await evaluations.list_runs(cli_principal("pytest"))] == [run_id]
    async with signed_in(f"auditor@{tenant_a.slug}.example") as auditor:
        page = await auditor.get(home)
        assert page.status_code == 200 and "Echo smoke test" in page.text
        assert f"{home}/run" not in page.text  # auditors read evaluations; they do not run them
        assert (await auditor.get(run_page)).status_code == 200
        refused = await auditor.post(f"{home}/run", data={"suite": "smoke", "csrf_token": form_token(page.text)})
        assert refused.status_code == 403 and "Refused (403)" in refused.text
    english = {m for m in source_messages() if len(m) > 12}
    async with signed_in(f"org_admin@{tenant_a.slug}.example") as admin:
        for language in ("es", "en", "is"):
            for path in (home, run_page, f"/console/governance/{use_case}"):
                response = await admin.get(path, params={"lang": language})
                assert response.status_code == 200, path
                assert f'<html lang="{language}"' in response.text
                if language != "en":
                    text = " ".join(visible_text(response.text).split())
                    left = sorted(m for m in english if " ".join(m.split()) in text)
                    assert not left, f"{path} in {language} shows English text: {left[:3]}"
        spanish = (await admin.get(home, params={"lang": "es"})).text
        assert "Evaluaciones de «Benefit letters assistant»" in spanish
        assert "Rechazar peticiones ajenas al servicio" in spanish  # a project suite's title, translated
        icelandic = (await admin.get(run_page, params={"lang": "is"})).text
        assert "Niðurstöður, tilvik fyrir tilvik" in icelandic


def test_the_chart_puts_each_run_and_the_threshold_on_one_scale() -> None:
    page: Any = SimpleNamespace(t=Translator("en"))
    start = datetime(2026, 1, 5, tzinfo=UTC)
    runs = [
        SimpleNamespace(pass_rate=rate, ci_low=low, ci_high=high, created_at=start + timedelta(days=i))
        for i, (rate, low, high) in enumerate([(0.5, 0.0, 1.0), (1.0, 1.0, 1.0), (0.0, None, None)])
    ]
    chart = rate_chart(runs, 0.75, page)  # type: ignore[arg-type]
    top, bottom = MARGIN_TOP, CHART_HEIGHT - MARGIN_BOTTOM
    ys = [p["y"] for p in chart["points"]]
    assert ys == [(top + bottom) / 2, top, bottom]  # 50%, 100%, 0%
    xs = [p["x"] for p in chart["points"]]
    assert xs == sorted(xs) and len(set(xs)) == 3  # in the order the runs were started
    assert chart["points"][0]["low"] == bottom and chart["points"][0]["high"] == top  # the interval's whisker
    assert chart["points"][2]["low"] == chart["points"][2]["high"] == bottom  # no interval: the point alone
    assert chart["threshold"] == {"y": bottom - (bottom - top) * 0.75, "label": "75%"}
    assert [p["value"] for p in chart["points"]] == ["50%", "100%", "0%"]
    alone = rate_chart(runs[:1], None, page)  # type: ignore[arg-type]
    assert alone["threshold"] is None and alone["points"][0]["x"] == (alone["left"] + alone["right"]) / 2

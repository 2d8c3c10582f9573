"""`soberana eval`: suites listed, a run with its cost and progress, a failing pass rate as the exit status
(a gate for a pipeline), and the run exported as an Inspect AI log."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.cli.test_cli import Cli
from tests.conftest import MOCK_DEPLOYMENT


def test_eval_run_reports_and_fails_below_the_minimum(tmp_path: Path) -> None:
    cli = Cli(tmp_path / "var", None)
    cli.env |= {"SOBERANA_DEMO_MODELS": "false", "SOBERANA_DEPLOYMENTS": json.dumps([MOCK_DEPLOYMENT])}
    cli("db", "upgrade")
    cli("demo", "seed")
    listed = cli("eval", "suites").stdout
    assert all(name in listed for name in ("grounding", "indirect-injection", "personal-data"))
    # the mock model answers everything: it does not decline off-topic or medical questions
    ran = cli("eval", "run", "off-topic", "--model", "mock-chat", "--org", "demo", "--min-pass-rate", "0.9", ok=False)
    assert ran.returncode == 1, ran.stderr
    assert re.search(r"Pass rate 0% \[0%, 0%\] \(0/18\)", ran.stdout)
    assert "estimated cost" in ran.stdout and "answers: expected an abstention" in ran.stdout
    run_id = re.search(r"Run (evr_\w+)", ran.stdout)
    assert run_id is not None
    log = json.loads(cli("eval", "export", run_id.group(1), "--format", "inspect").stdout)
    assert log["version"] == 2 and log["eval"]["task"] == "off-topic" and len(log["samples"]) == 18
    assert {s["scores"]["soberana"]["value"] for s in log["samples"]} == {"I"}
    assert run_id.group(1) in cli("eval", "runs").stdout
    schema = json.loads(cli("eval", "schema").stdout)
    assert {"id", "version", "kind", "targets", "cases"} <= set(schema["required"])

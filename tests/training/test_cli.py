"""`soberana training`: a course imported (checked whole), listed, exported and imported again the same; a
GIFT question bank read, normalised, and refused naming the line."""

from __future__ import annotations

from pathlib import Path

from tests.cli.test_cli import Cli
from tests.training.test_courses import make_course
from tests.training.test_gift_and_scoring import QUIZ


def test_import_export_and_a_gift_bank(tmp_path: Path) -> None:
    cli = Cli(tmp_path / "var", None)
    source = make_course(tmp_path / "src")
    imported = cli("training", "import", str(source)).stdout
    assert "tiny 1+" in imported and "en: 1 questions" in imported
    assert "tiny" in cli("training", "courses").stdout
    cli("training", "export", "tiny", str(tmp_path / "out"))
    again = cli("training", "import", str(tmp_path / "out")).stdout  # the export is a course that imports
    assert "1 modules, 1 lessons; en: 1 questions, es: 1 questions" in again
    assert (tmp_path / "out" / "quiz.es.gift").read_text(encoding="utf-8").startswith("::q1:: ¿Cierto?")
    assert (tmp_path / "out" / "lessons" / "es" / "first.md").read_text(encoding="utf-8").endswith("Hola.\n")

    bank = tmp_path / "bank.gift"
    bank.write_text(QUIZ, encoding="utf-8")
    assert (
        "7 questions: 2 single, 1 multiple, 1 truefalse, 3 numeric." in cli("training", "check-quiz", str(bank)).stdout
    )
    normalised = tmp_path / "normalised.gift"
    normalised.write_text(cli("training", "check-quiz", str(bank), "--normalise").stdout, encoding="utf-8")
    assert cli("training", "check-quiz", str(normalised)).stdout == cli("training", "check-quiz", str(bank)).stdout
    bank.write_text("::a:: Fine {=x ~y}\n\n::b:: Broken {=x ~y\n", encoding="utf-8")
    refused = cli("training", "check-quiz", str(bank), ok=False)
    assert refused.returncode != 0 and "bank.gift, line 3:" in refused.stdout + refused.stderr
    broken = make_course(tmp_path / "broken")
    (broken / "quiz.es.gift").write_text("::other:: ¿Sí? {TRUE}\n", encoding="utf-8")
    refused = cli("training", "import", str(broken), ok=False)
    assert refused.returncode != 0 and "does not have the questions" in refused.stdout + refused.stderr

"""Canada's Algorithmic Impact Assessment in the web console, one question a page, without JavaScript.

As with the EU AI Act assessment (:mod:`soberana.web.governance`), the answers so far travel in hidden form
fields, in the order they were given (``answer-{question}``, repeated for a checkbox question, and
``skipped`` naming a question left unanswered), and nothing is kept until the assessment is saved. The next
question is the first one the questionnaire shows for the answers so far that is neither answered nor
skipped; an answer to a question that a later change hides is dropped (``Questionnaire.visible``). When no
question is left, the page shows the score, the impact level and the level's requirements, with Save.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from soberana.auth.deps import get_origin
from soberana.errors import InvalidRequest, ServiceUnavailable, SoberanaError, ValidationFailed
from soberana.governance import aia
from soberana.web.governance import _form, _writes
from soberana.web.i18n import N_
from soberana.web.ui import Page, PageContext, Services

router = APIRouter(include_in_schema=False)

ASKED = frozenset({"radiogroup", "checkbox", "dropdown", "text", "comment"})  # not "html": no answer
MAX_FIELDS = 1000  # answer fields a form may carry (a checkbox answer is one field a choice)


@dataclass
class Answers:
    """The answers so far (question → choice, choices or text) and the order they were given or skipped."""

    given: dict[str, aia.Answer] = field(default_factory=dict)
    steps: list[str] = field(default_factory=list)

    def fields(self) -> list[tuple[str, str]]:
        """The hidden fields that carry them to the next page, in order."""
        out: list[tuple[str, str]] = []
        for name in self.steps:
            value = self.given.get(name)
            if value is None:
                out.append(("skipped", name))
            else:
                out.extend((f"answer-{name}", str(v)) for v in (value if isinstance(value, list) else [value]))
        return out

    def drop(self, name: str) -> list[str]:
        """Forget ``name``'s answer (or skip); what it was, as a list of values."""
        if name in self.steps:
            self.steps.remove(name)
        value = self.given.pop(name, None)
        return [] if value is None else [str(v) for v in (value if isinstance(value, list) else [value])]


def _sent(form: FormData, questionnaire: aia.Questionnaire) -> Answers:
    """The answers a form sent, checked against the questionnaire (an unknown question or choice is a 422),
    without the answers to questions that the others hide."""
    by_name = questionnaire.by_name
    values: dict[str, list[str]] = {}
    steps: list[str] = []
    count = 0
    for key, value in form.multi_items():
        if not isinstance(value, str):
            continue
        if key == "skipped":
            name, text = value, None
        elif key.startswith("answer-"):
            name, text = key.removeprefix("answer-"), value.strip()
        else:
            continue
        count += 1
        if count > MAX_FIELDS:
            raise InvalidRequest("Too many answers for this assessment.", param="answers")
        if text is not None and not text:
            continue  # an empty answer is no answer
        if name not in steps:
            steps.append(name)
        if text:
            values.setdefault(name, []).append(text)
    raw: dict[str, object] = {
        name: found if by_name.get(name) and by_name[name].type == "checkbox" else found[0]
        for name, found in values.items()
    }
    for name in steps:
        if name not in by_name:
            raise ValidationFailed(f"The questionnaire has no question {name!r}.", param=f"answers.{name}")
        if by_name[name].type != "checkbox" and len(values.get(name, ())) > 1:
            raise ValidationFailed(f"The question {name!r} takes one answer.", param=f"answers.{name}")
    shown, kept = questionnaire.visible(aia.check_answers(questionnaire, raw))
    return Answers(kept, [name for name in steps if name in shown and by_name[name].type in ASKED])


def _pending(questionnaire: aia.Questionnaire, answers: Answers) -> list[aia.Question]:
    """The questions still to answer, in the questionnaire's order."""
    shown, _ = questionnaire.visible(answers.given)
    done = set(answers.steps)
    return [q for q in questionnaire.questions if q.type in ASKED and q.name in shown and q.name not in done]


def _label(question: aia.Question, value: aia.Answer) -> str:
    labels = dict(zip(question.choices, question.labels, strict=False))
    values = value if isinstance(value, list) else [value]
    return "; ".join(labels.get(str(v), str(v)) for v in values)


async def _questionnaire(services: Services) -> aia.Questionnaire | None:
    """The questionnaire, or None where the installation has none."""
    try:
        return await services.governance.questionnaire()
    except ServiceUnavailable as error:
        if error.code != "aia_not_configured":
            raise
        return None


async def _aia_page(
    page: PageContext,
    services: Services,
    use_case_id: str,
    answers: Answers | None = None,
    *,
    chosen: list[str] | None = None,
    problem: str | None = None,
    refusal: SoberanaError | None = None,
    status_code: int = 200,
) -> Response:
    """The next question for ``answers``, or the score when none is left."""
    principal = page.principal
    entry = await services.governance.get(principal, use_case_id)  # 404 for a use case not theirs
    questionnaire = await _questionnaire(services)
    answers = answers or Answers()
    context: dict[str, object] = {"summary": []}
    if questionnaire is not None:
        shown, answers.given = questionnaire.visible(answers.given)  # a change may hide answers given
        answers.steps = [name for name in answers.steps if name in shown]
        pending = _pending(questionnaire, answers)
        question = pending[0] if pending else None
        by_name = questionnaire.by_name
        context = {
            "question": question,
            "number": len(answers.steps) + 1,
            "left": len(pending) - 1,
            "carried": answers.fields(),
            "summary": [
                (by_name[n].title or n, _label(by_name[n], answers.given[n]) if n in answers.given else None)
                for n in answers.steps
            ],
            "chosen": chosen if chosen is not None else [],
        }
        if question is None:
            result = aia.score(questionnaire, answers.given)
            context |= {"result": result, "requirements": aia.level_requirements(questionnaire, result, "en")}
    return page.render(
        "governance_aia.html",
        status_code=status_code,
        section="governance",
        use_case=entry.use_case,
        configured=questionnaire is not None,
        problem=problem,
        refusal=refusal,
        can_save=_writes(principal),
        **context,
    )


@router.get("/console/governance/{use_case_id}/aia")
async def aia_start(use_case_id: str, page: Page, services: Services) -> Response:
    return await _aia_page(page, services, use_case_id)


@router.post("/console/governance/{use_case_id}/aia")
async def aia_next(use_case_id: str, request: Request, page: Page, services: Services) -> Response:
    """The next question after the answer sent; with ``skip`` the question is left unanswered; with ``back``
    the last answer goes and its question is asked again."""
    form = await _form(request, page)
    await services.governance.get(page.principal, use_case_id)  # 404 before anything else
    questionnaire = await _questionnaire(services)
    if questionnaire is None:
        return await _aia_page(page, services, use_case_id)
    answers = _sent(form, questionnaire)
    shown = str(form.get("question", ""))
    question = questionnaire.by_name.get(shown)
    if form.get("back"):
        answers.drop(shown)  # the answer chosen on the page left is not kept
        chosen = answers.drop(answers.steps[-1]) if answers.steps else []
        return await _aia_page(page, services, use_case_id, answers, chosen=chosen)
    pending = {q.name for q in _pending(questionnaire, answers)}
    problem = None
    if question is not None and form.get("skip"):
        if question.required:
            problem = N_("This question needs an answer.")
            chosen = answers.drop(shown)
            return await _aia_page(
                page, services, use_case_id, answers, chosen=chosen, problem=problem, status_code=422
            )
        if shown in pending or shown in answers.given:  # skipped: what was chosen on the page is not kept
            answers.drop(shown)
            answers.steps.append(shown)
    elif question is not None and shown in pending:  # asked, and nothing chosen or typed
        problem = N_("Choose or type an answer, or skip the question.")
        if question.required:
            problem = N_("This question needs an answer.")
    elif question is not None and shown in answers.steps:  # answered now: it is the last answer given
        answers.steps.remove(shown)
        answers.steps.append(shown)
    status_code = 422 if problem else 200
    return await _aia_page(page, services, use_case_id, answers, problem=problem, status_code=status_code)


@router.post("/console/governance/{use_case_id}/aia/save")
async def aia_save(use_case_id: str, request: Request, page: Page, services: Services) -> Response:
    """Keep the answers as the use case's next Algorithmic Impact Assessment, scored."""
    form = await _form(request, page)
    await services.governance.get(page.principal, use_case_id)
    questionnaire = await _questionnaire(services)
    if questionnaire is None:
        return await _aia_page(page, services, use_case_id)
    answers = _sent(form, questionnaire)
    try:
        await services.governance.assess_aia(page.principal, use_case_id, dict(answers.given), get_origin(request))
    except SoberanaError as error:
        if error.status_code >= 500 or error.status_code == 404:
            raise
        return await _aia_page(page, services, use_case_id, answers, refusal=error, status_code=error.status_code)
    return page.redirect(f"/console/governance/{use_case_id}?done=aia_assessed")

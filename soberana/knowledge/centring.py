"""Question centring: a question's generic part is taken out of its vector before the dense search.

Embedding models put every question near one "question" direction: "Who should I contact?" and
"Where do I send the form?" are closer to each other than to the pages that answer them, and a
question that names no subject is drawn to whichever pages are closest to that direction. A
question's vector minus a share of the mean vector of generic questions (:data:`GENERIC_QUESTIONS`,
written by the project, in English, Spanish and Icelandic) ranks by what is specific to it. The share
grows with how close the question is to that direction: a question that names its subject keeps its
vector. The generic direction is that of the question's own language (all three banks together for
another language). The shares are calibrated per embedding model on ``bench/retrieval`` (like the
abstention threshold); a model without calibration is searched with the question's own vector.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class QuestionCentring:
    """``vector − share × generic``, renormalised; ``share`` rises from 0 at cosine ``low`` with the generic
    direction to ``strength`` at ``high`` and above."""

    strength: float
    low: float
    high: float

    def share(self, vector: np.ndarray, generic: np.ndarray) -> float:
        """How much of ``generic`` (the mean vector of generic questions) to take out of ``vector``."""
        norm = float(np.linalg.norm(generic))
        if norm == 0.0:
            return 0.0
        closeness = float(np.dot(vector, generic)) / (norm * (float(np.linalg.norm(vector)) or 1.0))
        return self.strength * min(1.0, max(0.0, (closeness - self.low) / (self.high - self.low)))

    def apply(self, vector: np.ndarray, generic: np.ndarray) -> np.ndarray:
        """The unit vector to search with."""
        share = self.share(vector, generic)
        if share == 0.0:
            return vector
        centred = np.asarray(vector, dtype=np.float32) - np.float32(share) * generic.astype(np.float32)
        return centred / np.float32(np.linalg.norm(centred) or 1.0)


# By model alias; chosen on bench/retrieval (document-level nDCG@10 over seven sets), where the
# questions of XQuAD (cosine with the generic direction mostly below 0.85) keep their vectors and
# ConditionalQA's (mostly above) are centred. See docs/knowledge.md for what it changes.
CALIBRATED: dict[str, QuestionCentring] = {"multilingual-e5-small": QuestionCentring(0.8, 0.85, 0.88)}


def centring_for(model: str) -> QuestionCentring | None:
    return CALIBRATED.get(model)


def bank_for(language: str | None) -> str:
    """The bank of generic questions for ``language``: its own, or ``"all"`` of them together."""
    return language if language in GENERIC_QUESTIONS else "all"


def generic_questions(bank: str) -> tuple[str, ...]:
    """The questions of ``bank`` (a language code of :data:`GENERIC_QUESTIONS`, or ``"all"``)."""
    own = GENERIC_QUESTIONS.get(bank)
    return own if own else tuple(q for group in GENERIC_QUESTIONS.values() for q in group)


GENERIC_QUESTIONS: dict[str, tuple[str, ...]] = {
    "en": (
        "How do I apply?",
        "Where can I get help?",
        "Who should I contact?",
        "How much does it cost?",
        "What documents do I need?",
        "Can I appeal the decision?",
        "How long does it take?",
        "Am I eligible?",
        "What happens next?",
        "Can I get financial support?",
        "Where do I send the form?",
        "Is there a deadline?",
        "Can someone apply on my behalf?",
        "What if I disagree with the decision?",
        "Do I need to pay anything?",
        "How do I complain?",
        "Will I get a confirmation?",
        "Can I do this online?",
        "What are my rights?",
        "How can I change my details?",
        "What if my circumstances change?",
        "Can I get money back?",
        "Who decides?",
        "How do I prove my identity?",
        "What if I live abroad?",
        "Can I cancel?",
        "Is there a fee?",
        "How often do I need to renew it?",
        "What do I need to include?",
        "What if I miss the deadline?",
        "Can I get an extension?",
        "Where can I find the form?",
        "How will I be paid?",
        "How much will I get?",
        "Do I qualify?",
        "Can I still apply if I work?",
        "What if I have savings?",
        "Is it taxable?",
        "What support is available for me?",
        "Who can I talk to about this?",
        "What evidence do I need to provide?",
        "Can I get advice?",
        "How do I report a problem?",
        "What should I do now?",
        "Will this affect my benefits?",
        "Can my employer refuse?",
        "How do I check the status of my application?",
        "What if I made a mistake?",
        "Can I get help with the costs?",
        "Is there an age limit?",
        "What happens if I do not do it?",
        "Can I be fined?",
        "Do I need a licence?",
        "How do I register?",
        "How do I make a payment?",
        "Can I pay in instalments?",
        "What if I cannot afford it?",
        "Is there someone who can help me fill in the form?",
        "Will they tell me the outcome?",
        "What are the rules?",
    ),
    "es": (
        "¿Cómo lo solicito?",
        "¿Dónde puedo conseguir ayuda?",
        "¿Con quién debo ponerme en contacto?",
        "¿Cuánto cuesta?",
        "¿Qué documentos necesito?",
        "¿Puedo recurrir la decisión?",
        "¿Cuánto tiempo tarda?",
        "¿Cumplo los requisitos?",
        "¿Qué pasa después?",
        "¿Puedo recibir ayuda económica?",
        "¿A dónde envío el formulario?",
        "¿Hay un plazo?",
        "¿Puede otra persona solicitarlo en mi nombre?",
        "¿Qué hago si no estoy de acuerdo con la decisión?",
        "¿Tengo que pagar algo?",
        "¿Cómo presento una queja?",
        "¿Recibiré una confirmación?",
        "¿Puedo hacerlo por internet?",
        "¿Cuáles son mis derechos?",
        "¿Cómo cambio mis datos?",
        "¿Qué pasa si cambia mi situación?",
        "¿Me pueden devolver el dinero?",
        "¿Quién decide?",
        "¿Cómo demuestro mi identidad?",
        "¿Qué pasa si vivo en el extranjero?",
        "¿Puedo cancelarlo?",
        "¿Hay que pagar una tasa?",
        "¿Cada cuánto tengo que renovarlo?",
        "¿Qué tengo que incluir?",
        "¿Qué pasa si se me pasa el plazo?",
        "¿Puedo pedir una prórroga?",
        "¿Dónde encuentro el formulario?",
        "¿Cómo me pagarán?",
        "¿Cuánto recibiré?",
        "¿Tengo derecho?",
        "¿Puedo solicitarlo si trabajo?",
        "¿Qué pasa si tengo ahorros?",
        "¿Tributa?",
        "¿Qué apoyo hay para mí?",
        "¿Con quién puedo hablar de esto?",
        "¿Qué pruebas tengo que presentar?",
        "¿Pueden asesorarme?",
        "¿Cómo informo de un problema?",
        "¿Qué debo hacer ahora?",
        "¿Afectará esto a mis prestaciones?",
        "¿Puede negarse mi empresa?",
        "¿Cómo consulto el estado de mi solicitud?",
        "¿Qué pasa si me he equivocado?",
        "¿Puedo recibir ayuda con los gastos?",
        "¿Hay un límite de edad?",
        "¿Qué pasa si no lo hago?",
        "¿Me pueden multar?",
        "¿Necesito una licencia?",
        "¿Cómo me inscribo?",
        "¿Cómo hago un pago?",
        "¿Puedo pagar a plazos?",
        "¿Qué pasa si no puedo pagarlo?",
        "¿Hay alguien que me ayude a rellenar el formulario?",
        "¿Me comunicarán el resultado?",
        "¿Cuáles son las normas?",
    ),
    "is": (
        "Hvernig sæki ég um?",
        "Hvar get ég fengið aðstoð?",
        "Við hvern á ég að hafa samband?",
        "Hvað kostar það?",
        "Hvaða gögn þarf ég?",
        "Get ég kært ákvörðunina?",
        "Hvað tekur það langan tíma?",
        "Á ég rétt á þessu?",
        "Hvað gerist næst?",
        "Get ég fengið fjárhagsaðstoð?",
        "Hvert sendi ég eyðublaðið?",
        "Er einhver frestur?",
        "Getur einhver annar sótt um fyrir mína hönd?",
        "Hvað ef ég er ósammála ákvörðuninni?",
        "Þarf ég að borga eitthvað?",
        "Hvernig legg ég fram kvörtun?",
        "Fæ ég staðfestingu?",
        "Get ég gert þetta á netinu?",
        "Hver eru réttindi mín?",
        "Hvernig breyti ég upplýsingunum mínum?",
        "Hvað ef aðstæður mínar breytast?",
        "Get ég fengið endurgreitt?",
        "Hver tekur ákvörðunina?",
        "Hvernig sanna ég hver ég er?",
        "Hvað ef ég bý erlendis?",
        "Get ég hætt við?",
        "Er eitthvert gjald?",
        "Hversu oft þarf ég að endurnýja það?",
        "Hvað þarf ég að láta fylgja með?",
        "Hvað ef ég missi af frestinum?",
        "Get ég fengið lengri frest?",
        "Hvar finn ég eyðublaðið?",
        "Hvernig fæ ég greitt?",
        "Hversu mikið fæ ég?",
        "Uppfylli ég skilyrðin?",
        "Get ég samt sótt um ef ég er í vinnu?",
        "Hvað ef ég á sparifé?",
        "Er þetta skattskylt?",
        "Hvaða stuðningur er í boði fyrir mig?",
        "Við hvern get ég talað um þetta?",
        "Hvaða gögn þarf ég að leggja fram?",
        "Get ég fengið ráðgjöf?",
        "Hvernig tilkynni ég vandamál?",
        "Hvað á ég að gera núna?",
        "Hefur þetta áhrif á bæturnar mínar?",
        "Getur vinnuveitandinn minn neitað?",
        "Hvernig athuga ég stöðu umsóknarinnar?",
        "Hvað ef ég gerði mistök?",
        "Get ég fengið aðstoð við kostnaðinn?",
        "Eru einhver aldurstakmörk?",
        "Hvað gerist ef ég geri það ekki?",
        "Get ég fengið sekt?",
        "Þarf ég leyfi?",
        "Hvernig skrái ég mig?",
        "Hvernig greiði ég?",
        "Get ég greitt í afborgunum?",
        "Hvað ef ég hef ekki efni á því?",
        "Getur einhver hjálpað mér að fylla út eyðublaðið?",
        "Fæ ég að vita niðurstöðuna?",
        "Hverjar eru reglurnar?",
    ),
}

"""The fixed text of the AI usage policy (the "policy pack") in English, Spanish and Icelandic.

Each language was written on its own, not translated word for word; :mod:`soberana.governance.policy_pack`
fills in the organisation's facts. Templates take their values through ``str.format`` (the templates are
ours; the values are escaped where they are rendered). Labels of known configuration values (data
classifications, sovereignty, personal-data modes, use-case states, risk groups) are translated here; an
unknown value is shown as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True)
class Texts:
    """Everything the policy says in one language, apart from the organisation's facts."""

    locale: str  # for dates and units (Babel) and the document's language
    title: str
    generated: str  # {date}, {organisation}, {slug}
    purpose_heading: str
    purpose: tuple[str, ...]  # paragraphs; {organisation}
    rules_heading: str
    may_heading: str
    may: tuple[str, ...]
    must_heading: str
    must: tuple[str, ...]
    must_not_heading: str
    must_not: tuple[str, ...]
    models_heading: str
    models_intro: str
    models_caption: str
    models_columns: tuple[str, str, str, str, str]  # classification, model, deployment, where, supplier
    no_models: str
    no_supplier: str
    privacy_heading: str
    privacy_intro: str
    privacy_caption: str
    privacy_columns: tuple[str, str, str]  # classification, mode, what it means
    no_privacy: str
    unknown_mode: str
    retention_heading: str
    retention_intro: str
    retention_caption: str
    retention_columns: tuple[str, str]
    retention_rows: tuple[str, str, str, str]  # usage, citizen conversations, staff conversations, vault
    forever: str
    use_cases_heading: str
    use_cases_intro: str
    use_cases_caption: str
    use_cases_columns: tuple[str, str, str, str, str]  # name, status, risk group, owner, review
    no_use_cases: str
    no_review_date: str
    training_heading: str
    training_intro: str
    training_caption: str
    training_columns: tuple[str, str]
    no_training: str
    incidents_heading: str
    incidents_intro: str  # followed by the contact
    deadlines_intro: str
    deadlines: tuple[str, str, str]  # 15 days, 10 days (death), 2 days (widespread / critical infrastructure)
    incidents_closing: str
    classifications: Mapping[str, str]
    sovereignty: Mapping[str, str]
    modes: Mapping[str, tuple[str, str]]  # mode -> (name, what it means)
    statuses: Mapping[str, str]
    risk_groups: Mapping[str, str]


def _frozen(values: dict[str, str]) -> Mapping[str, str]:
    return MappingProxyType(values)


ENGLISH = Texts(
    locale="en",
    title="AI usage policy",
    generated="Generated on {date} from the platform's configuration in force. Organisation: {organisation} ({slug}).",
    purpose_heading="Purpose",
    purpose=(
        "This policy sets out how staff of {organisation} may use artificial intelligence (AI) at work. It is "
        "generated from the platform's own configuration: the models, data protection and retention periods "
        "below are the ones in force on the date shown. It applies to everyone who uses AI on the "
        "organisation's behalf, contractors included.",
        "It is there to protect the people we serve and their data, to keep the organisation's information "
        "within approved limits, and to meet the EU AI Act, data-protection law and the organisation's own rules.",
    ),
    rules_heading="What staff may and may not do",
    may_heading="You may",
    may=(
        "use the models listed in this policy for your work, for the data classifications each is allowed for;",
        "use AI to draft, summarise, translate and search, as an aid to your own judgement.",
    ),
    must_heading="You must",
    must=(
        "check every output before you rely on it or pass it on: AI can be wrong, out of date or biased, and "
        "you remain responsible for the result;",
        "mark text meant for the public that was written with AI as such;",
        "keep to the approved use cases when the work affects people's rights or decisions about them.",
    ),
    must_not_heading="You must not",
    must_not=(
        "enter data of a higher classification than a model is allowed for; when in doubt, take the higher "
        "classification;",
        "enter more personal data than the task needs, or special categories of data (health, ethnic origin, "
        "beliefs and the like) unless the use case is approved for them;",
        "use AI services that are not in this policy, such as personal accounts with public chatbots, for work;",
        "let AI take a decision about a person without a human reviewing it.",
    ),
    models_heading="Allowed models",
    models_intro="Only these models may be used. Each row names a model allowed for data of one classification "
    "and where it runs; use a model only for the classifications it is listed under.",
    models_caption="Models allowed, by data classification",
    models_columns=("Classification", "Model", "Deployment", "Where it runs", "Supplier"),
    no_models="No model is allowed yet.",
    no_supplier="none",
    privacy_heading="Personal data",
    privacy_intro="The platform handles personal data in a request according to the request's classification, "
    "as below. This does not replace your own care: enter no more personal data than you need.",
    privacy_caption="Handling of personal data, by data classification",
    privacy_columns=("Classification", "Mode", "What it means"),
    no_privacy="No personal-data rule is set.",
    unknown_mode="A setting of this installation; ask the platform's administrators.",
    retention_heading="Retention",
    retention_intro="How long the platform keeps records of AI use. After that they are deleted automatically.",
    retention_caption="Retention periods",
    retention_columns=("Records", "Kept for"),
    retention_rows=(
        "Usage records (who used which model, when, and how much)",
        "Conversations with the public",
        "Staff conversations",
        "Placeholder vault (which personal data each placeholder stands for)",
    ),
    forever="Kept indefinitely",
    use_cases_heading="Approved use cases",
    use_cases_intro="AI may be used for these purposes, within the limits approved. Any new use that affects "
    "people's rights needs approval before it starts.",
    use_cases_caption="Approved use cases",
    use_cases_columns=("Use case", "Status", "Risk group", "Senior responsible owner", "Next review"),
    no_use_cases="No use case has been approved yet.",
    no_review_date="Not set",
    training_heading="Training",
    training_intro="Staff must complete these courses before using AI for the work concerned.",
    training_caption="Required training",
    training_columns=("Course", "Who must take it"),
    no_training="No training is required yet.",
    incidents_heading="Reporting incidents",
    incidents_intro="Report anything that goes wrong with AI at once — a wrong or harmful output, personal data "
    "exposed, a model used outside this policy — to:",
    deadlines_intro="A serious incident with a high-risk AI system must be reported to the market surveillance "
    "authority (EU AI Act, Art. 73):",
    deadlines=(
        "no later than 15 days after the organisation becomes aware of it;",
        "no later than 10 days in the event of a person's death;",
        "no later than 2 days in the event of a widespread infringement or a serious and irreversible "
        "disruption of critical infrastructure.",
    ),
    incidents_closing="Report at once, even when you are not sure: these deadlines leave no time to wait.",
    classifications=_frozen(
        {"public": "Public", "internal": "Internal", "confidential": "Confidential", "secret": "Secret"}
    ),
    sovereignty=_frozen(
        {
            "on_premises": "On the administration's own servers",
            "national_cloud": "In a national cloud",
            "foreign_cloud": "In a foreign cloud",
            "eu": "In a cloud within the EU",
            "abroad": "Outside the EU",
        }
    ),
    modes=MappingProxyType(
        {
            "off": ("Off", "Personal data is neither looked for nor changed; the request is sent as written."),
            "detect": ("Detect", "Personal data is looked for and counted, but the request is sent unchanged."),
            "pseudonymise": (
                "Pseudonymise",
                "Personal data is replaced by placeholders before the model sees it; the originals are put back "
                "in the answer.",
            ),
            "redact": ("Redact", "Personal data is replaced by placeholders and never put back."),
            "block": ("Block", "A request containing personal data is refused, naming the kinds of data found."),
        }
    ),
    statuses=_frozen(
        {
            "draft": "Draft",
            "in_review": "In review",
            "approved": "Approved",
            "live": "Live",
            "suspended": "Suspended",
            "retired": "Retired",
        }
    ),
    risk_groups=_frozen(
        {
            "unassessed": "Not assessed",
            "prohibited": "Prohibited",
            "high_risk": "High risk",
            "transparency": "Transparency obligations",
            "minimal": "Minimal risk",
        }
    ),
)

SPANISH = Texts(
    locale="es",
    title="Política de uso de la inteligencia artificial",
    generated="Generada el {date} a partir de la configuración vigente de la plataforma. "
    "Organización: {organisation} ({slug}).",
    purpose_heading="Finalidad",
    purpose=(
        "Esta política establece cómo puede usar el personal de {organisation} la inteligencia artificial (IA) "
        "en su trabajo. Se genera a partir de la propia configuración de la plataforma: los modelos, la "
        "protección de datos y los plazos de conservación que figuran a continuación son los vigentes en la "
        "fecha indicada. Se aplica a todas las personas que usan la IA por cuenta de la organización, incluidas "
        "las empresas contratistas.",
        "Su finalidad es proteger a las personas a las que servimos y sus datos, mantener la información de la "
        "organización dentro de los límites aprobados y cumplir el Reglamento Europeo de Inteligencia "
        "Artificial, la normativa de protección de datos y las normas propias de la organización.",
    ),
    rules_heading="Qué puede y qué no puede hacer el personal",
    may_heading="Puede",
    may=(
        "usar en su trabajo los modelos que figuran en esta política, para las clasificaciones de datos "
        "autorizadas en cada caso;",
        "usar la IA para redactar borradores, resumir, traducir y buscar, como apoyo a su propio criterio.",
    ),
    must_heading="Debe",
    must=(
        "revisar todo resultado antes de basarse en él o transmitirlo: la IA puede equivocarse, estar "
        "desactualizada o tener sesgos, y la responsabilidad sigue siendo suya;",
        "señalar los textos dirigidos a la ciudadanía que se hayan elaborado con IA;",
        "ceñirse a los casos de uso aprobados cuando el trabajo afecte a los derechos de las personas o a "
        "decisiones sobre ellas.",
    ),
    must_not_heading="No debe",
    must_not=(
        "introducir datos de una clasificación superior a la autorizada para el modelo; en caso de duda, elija "
        "la clasificación más alta;",
        "introducir más datos personales de los que exige la tarea, ni categorías especiales de datos (salud, "
        "origen étnico, creencias…) salvo que el caso de uso esté aprobado para ello;",
        "usar en el trabajo servicios de IA que no figuren en esta política, como cuentas personales en chatbots "
        "públicos;",
        "dejar que la IA tome una decisión sobre una persona sin que la revise un ser humano.",
    ),
    models_heading="Modelos autorizados",
    models_intro="Solo pueden usarse estos modelos. Cada fila indica un modelo autorizado para datos de una "
    "clasificación y dónde se ejecuta; use cada modelo solo con las clasificaciones en las que figura.",
    models_caption="Modelos autorizados por clasificación de datos",
    models_columns=("Clasificación", "Modelo", "Despliegue", "Dónde se ejecuta", "Proveedor"),
    no_models="Aún no se ha autorizado ningún modelo.",
    no_supplier="ninguno",
    privacy_heading="Datos personales",
    privacy_intro="La plataforma trata los datos personales de cada petición según la clasificación de esta, "
    "como se indica a continuación. Esto no sustituye su propia prudencia: no introduzca más datos personales "
    "de los necesarios.",
    privacy_caption="Tratamiento de los datos personales por clasificación",
    privacy_columns=("Clasificación", "Modo", "Qué significa"),
    no_privacy="No se ha fijado ninguna regla de datos personales.",
    unknown_mode="Ajuste propio de esta instalación; consulte a la administración de la plataforma.",
    retention_heading="Conservación de los datos",
    retention_intro="Cuánto tiempo conserva la plataforma los registros del uso de la IA. Pasado ese plazo, se "
    "eliminan automáticamente.",
    retention_caption="Plazos de conservación",
    retention_columns=("Datos", "Plazo de conservación"),
    retention_rows=(
        "Registros de uso (quién usó qué modelo, cuándo y cuánto)",
        "Conversaciones con la ciudadanía",
        "Conversaciones del personal",
        "Depósito de marcadores (qué dato personal sustituye cada marcador)",
    ),
    forever="Sin límite",
    use_cases_heading="Casos de uso aprobados",
    use_cases_intro="La IA puede usarse para estos fines, dentro de los límites aprobados. Todo uso nuevo que "
    "afecte a los derechos de las personas necesita aprobación antes de empezar.",
    use_cases_caption="Casos de uso aprobados",
    use_cases_columns=("Caso de uso", "Estado", "Grupo de riesgo", "Responsable", "Próxima revisión"),
    no_use_cases="Aún no se ha aprobado ningún caso de uso.",
    no_review_date="Sin fecha",
    training_heading="Formación",
    training_intro="El personal debe completar estos cursos antes de usar la IA en las tareas correspondientes.",
    training_caption="Formación obligatoria",
    training_columns=("Curso", "Quién debe realizarlo"),
    no_training="Todavía no se exige ninguna formación.",
    incidents_heading="Comunicación de incidentes",
    incidents_intro="Comunique de inmediato cualquier problema con la IA (un resultado erróneo o perjudicial, "
    "datos personales expuestos, un modelo usado fuera de esta política) a:",
    deadlines_intro="Los incidentes graves de un sistema de IA de alto riesgo deben notificarse a la autoridad "
    "de vigilancia del mercado (Reglamento de Inteligencia Artificial, art. 73):",
    deadlines=(
        "a más tardar 15 días después de que la organización tenga conocimiento del incidente;",
        "a más tardar 10 días en caso de fallecimiento de una persona;",
        "a más tardar 2 días en caso de infracción generalizada o de perturbación grave e irreversible de "
        "infraestructuras críticas.",
    ),
    incidents_closing="Comuníquelo enseguida aunque no esté seguro: estos plazos no permiten esperar.",
    classifications=_frozen(
        {"public": "Público", "internal": "Uso interno", "confidential": "Confidencial", "secret": "Secreto"}
    ),
    sovereignty=_frozen(
        {
            "on_premises": "En los servidores propios de la administración",
            "national_cloud": "En una nube nacional",
            "foreign_cloud": "En una nube extranjera",
            "eu": "En una nube dentro de la UE",
            "abroad": "Fuera de la UE",
        }
    ),
    modes=MappingProxyType(
        {
            "off": ("Desactivado", "No se buscan ni se modifican datos personales; la petición se envía tal cual."),
            "detect": ("Detección", "Se buscan y se cuentan los datos personales, pero la petición no se modifica."),
            "pseudonymise": (
                "Seudonimización",
                "Los datos personales se sustituyen por marcadores antes de que el modelo los vea; los originales "
                "se restituyen en la respuesta.",
            ),
            "redact": ("Ocultación", "Los datos personales se sustituyen por marcadores y no se restituyen."),
            "block": (
                "Bloqueo",
                "Se rechaza la petición que contenga datos personales y se indica qué tipos de datos se encontraron.",
            ),
        }
    ),
    statuses=_frozen(
        {
            "draft": "Borrador",
            "in_review": "En revisión",
            "approved": "Aprobado",
            "live": "En producción",
            "suspended": "Suspendido",
            "retired": "Retirado",
        }
    ),
    risk_groups=_frozen(
        {
            "unassessed": "Sin evaluar",
            "prohibited": "Prohibido",
            "high_risk": "Alto riesgo",
            "transparency": "Obligaciones de transparencia",
            "minimal": "Riesgo mínimo",
        }
    ),
)

ICELANDIC = Texts(
    locale="is",
    title="Stefna um notkun gervigreindar",
    generated="Útbúin {date} út frá gildandi stillingum kerfisins. Stofnun: {organisation} ({slug}).",
    purpose_heading="Tilgangur",
    purpose=(
        "Í þessari stefnu kemur fram hvernig starfsfólk stofnunarinnar má nota gervigreind í starfi sínu. "
        "Stefnan er útbúin beint út frá stillingum kerfisins: líkönin, persónuverndin og "
        "varðveislutíminn hér að neðan eru þau sem í gildi eru á tilgreindum degi. Hún gildir um alla sem nota "
        "gervigreind á vegum stofnunarinnar, verktaka þar á meðal.",
        "Markmiðið er að vernda fólkið sem við þjónum og gögn þess, halda upplýsingum stofnunarinnar innan "
        "samþykktra marka og fylgja gervigreindarreglugerð ESB, persónuverndarlögum og reglum stofnunarinnar.",
    ),
    rules_heading="Hvað starfsfólk má og má ekki gera",
    may_heading="Þú mátt",
    may=(
        "nota líkönin sem talin eru upp í þessari stefnu í starfi þínu, fyrir þá gagnaflokka sem hvert þeirra "
        "er leyft fyrir;",
        "nota gervigreind til að semja drög, draga saman, þýða og leita, sem stuðning við eigið mat.",
    ),
    must_heading="Þú skalt",
    must=(
        "fara yfir allar niðurstöður áður en þú byggir á þeim eða sendir þær áfram: gervigreind getur haft "
        "rangt fyrir sér, verið úrelt eða hlutdræg, og ábyrgðin er áfram þín;",
        "merkja texta sem saminn er með gervigreind og ætlaður almenningi sem slíkan;",
        "halda þig við samþykkt notkunartilvik þegar verkið varðar réttindi fólks eða ákvarðanir um það.",
    ),
    must_not_heading="Þú mátt ekki",
    must_not=(
        "setja inn gögn í hærri flokki en líkanið er leyft fyrir; ef þú ert í vafa skaltu velja hærri flokkinn;",
        "setja inn meiri persónuupplýsingar en verkið krefst, né viðkvæmar persónuupplýsingar (til dæmis um "
        "heilsu, uppruna eða trúarskoðanir) nema notkunartilvikið hafi verið samþykkt fyrir þær;",
        "nota í starfi gervigreindarþjónustur sem ekki eru í þessari stefnu, svo sem eigin aðganga að opnum "
        "spjallmennum;",
        "láta gervigreind taka ákvörðun um einstakling án þess að manneskja fari yfir hana.",
    ),
    models_heading="Leyfð líkön",
    models_intro="Aðeins má nota þessi líkön. Í hverri línu er líkan sem leyft er fyrir gögn í einum flokki og "
    "hvar það keyrir; notaðu líkan eingöngu fyrir þá flokka sem það er skráð undir.",
    models_caption="Leyfð líkön eftir gagnaflokkum",
    models_columns=("Gagnaflokkur", "Líkan", "Uppsetning", "Hvar það keyrir", "Birgir"),
    no_models="Ekkert líkan hefur enn verið leyft.",
    no_supplier="enginn",
    privacy_heading="Persónuupplýsingar",
    privacy_intro="Kerfið meðhöndlar persónuupplýsingar í beiðni eftir gagnaflokki hennar, eins og hér segir. "
    "Þetta kemur ekki í stað eigin aðgátar: settu ekki inn meiri persónuupplýsingar en þörf er á.",
    privacy_caption="Meðferð persónuupplýsinga eftir gagnaflokkum",
    privacy_columns=("Gagnaflokkur", "Háttur", "Hvað það þýðir"),
    no_privacy="Engin regla um persónuupplýsingar hefur verið sett.",
    unknown_mode="Sérstilling í þessu kerfi; spyrðu umsjónarmenn kerfisins.",
    retention_heading="Varðveisla gagna",
    retention_intro="Hversu lengi kerfið geymir gögn um notkun gervigreindar. Að þeim tíma liðnum er þeim eytt "
    "sjálfkrafa.",
    retention_caption="Varðveislutími",
    retention_columns=("Gögn", "Varðveislutími"),
    retention_rows=(
        "Notkunarskrár (hver notaði hvaða líkan, hvenær og hve mikið)",
        "Samtöl við almenning",
        "Samtöl starfsfólks",
        "Staðgenglaskrá (hvaða persónuupplýsingar hver staðgengill stendur fyrir)",
    ),
    forever="Ótímabundið",
    use_cases_heading="Samþykkt notkunartilvik",
    use_cases_intro="Nota má gervigreind í þessum tilgangi, innan samþykktra marka. Ný notkun sem varðar "
    "réttindi fólks þarf samþykki áður en hún hefst.",
    use_cases_caption="Samþykkt notkunartilvik",
    use_cases_columns=("Notkunartilvik", "Staða", "Áhættuflokkur", "Ábyrgur stjórnandi", "Næsta endurskoðun"),
    no_use_cases="Ekkert notkunartilvik hefur enn verið samþykkt.",
    no_review_date="Ekki ákveðin",
    training_heading="Þjálfun",
    training_intro="Starfsfólk skal ljúka þessum námskeiðum áður en það notar gervigreind í viðkomandi verkum.",
    training_caption="Skyldunámskeið",
    training_columns=("Námskeið", "Hver á að taka það"),
    no_training="Engin þjálfun er enn áskilin.",
    incidents_heading="Tilkynning atvika",
    incidents_intro="Tilkynntu strax um allt sem fer úrskeiðis við notkun gervigreindar (rangt eða skaðlegt "
    "svar, persónuupplýsingar sem komast í rangar hendur, líkan notað utan þessarar stefnu) til:",
    deadlines_intro="Alvarleg atvik sem varða gervigreindarkerfi með mikla áhættu skal tilkynna "
    "markaðseftirlitsstjórnvaldi (gervigreindarreglugerð ESB, 73. gr.):",
    deadlines=(
        "eigi síðar en 15 dögum eftir að stofnunin fær vitneskju um atvikið;",
        "eigi síðar en 10 dögum ef einstaklingur hefur látist;",
        "eigi síðar en 2 dögum ef um er að ræða víðtækt brot eða alvarlega og óafturkræfa röskun á mikilvægum "
        "innviðum.",
    ),
    incidents_closing="Tilkynntu strax, líka ef þú ert ekki viss: frestirnir leyfa enga bið.",
    classifications=_frozen(
        {"public": "Opinber", "internal": "Til innri nota", "confidential": "Trúnaðarmál", "secret": "Leyndarmál"}
    ),
    sovereignty=_frozen(
        {
            "on_premises": "Á eigin netþjónum stofnunarinnar",
            "national_cloud": "Í innlendu skýi",
            "foreign_cloud": "Í erlendu skýi",
            "eu": "Í skýi innan ESB",
            "abroad": "Utan ESB",
        }
    ),
    modes=MappingProxyType(
        {
            "off": ("Slökkt", "Persónuupplýsinga er hvorki leitað né þeim breytt; beiðnin fer eins og hún er."),
            "detect": ("Greining", "Leitað er að persónuupplýsingum og þær taldar, en beiðnin fer óbreytt."),
            "pseudonymise": (
                "Gerviauðkenning",
                "Staðgenglar koma í stað persónuupplýsinga áður en líkanið sér þær; upprunalegu gildin eru sett "
                "aftur inn í svarið.",
            ),
            "redact": ("Afmáun", "Staðgenglar koma í stað persónuupplýsinga og þær eru ekki settar aftur inn."),
            "block": (
                "Lokun",
                "Beiðni sem inniheldur persónuupplýsingar er hafnað og tilgreint hvers konar gögn fundust.",
            ),
        }
    ),
    statuses=_frozen(
        {
            "draft": "Drög",
            "in_review": "Í yfirferð",
            "approved": "Samþykkt",
            "live": "Í notkun",
            "suspended": "Stöðvað tímabundið",
            "retired": "Aflagt",
        }
    ),
    risk_groups=_frozen(
        {
            "unassessed": "Ómetið",
            "prohibited": "Bannað",
            "high_risk": "Mikil áhætta",
            "transparency": "Gagnsæisskyldur",
            "minimal": "Lítil áhætta",
        }
    ),
)

#: The policy's languages, by code.
TEXTS: Mapping[str, Texts] = MappingProxyType({"en": ENGLISH, "es": SPANISH, "is": ICELANDIC})

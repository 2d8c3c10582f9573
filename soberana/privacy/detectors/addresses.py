"""Postal addresses, each found as one span: flat or floor, house number, street, postcode, town,
region and country together ("Flat 4, 27 Church Road, Leeds LS6 2AB").

An address is found from an *anchor* — a street with its type ("Church Road", "Calle Mayor 12",
"Hverfisgötu 12"), a validated UK postcode, a post-office box, a Spanish or Icelandic postcode with its
town, a US town with state and ZIP code, or a house number and street after words that announce an
address ("lives at", "domicilio:", "býr á") — and then extended over the parts around it, one part at
a time: a flat, unit or floor, a number, a postcode, a town, a region, a country. Every pattern runs on
RE2 (linear time, see :class:`~soberana.privacy.detectors.LinearPattern`) and each extension step reads
a bounded slice of the text, so an address costs at most ``_MAX_PARTS`` steps of ``_STEP_CHARS``
characters whatever the text holds.
"""

from __future__ import annotations

from collections.abc import Iterable

from soberana.privacy.detectors import BEFORE_WORD, LinearPattern, unicode_classes
from soberana.privacy.entities import ADDRESS, Entity

_LONGEST = 300  # characters: the longest anchor a pattern looks for
_STEP_CHARS = 120  # how far one extension step reads
_MAX_PARTS = 10  # parts added to an anchor, on each side together
_MAX_CHARS = 320  # the longest address
_SCORE = 0.75


def _linear(pattern: str, *, ignore_case: bool = False, entity: tuple[str, ...] = ("m",)) -> LinearPattern:
    return LinearPattern(unicode_classes(pattern), ignore_case=ignore_case, entity=entity, longest=_LONGEST)


def _either_case(words: str) -> str:
    """``Street|Road`` → ``[Ss]treet|[Rr]oad``: a type word written with or without its capital."""
    out = []
    for word in words.split("|"):
        first = word[0]
        out.append(f"[{first.upper()}{first.lower()}]{word[1:]}" if first.isalpha() and len(word) > 3 else word)
    return "|".join(out)


_L = r"\p{L}\p{M}"
_END = rf"(?:$|[^{_L}\p{{N}}_])"  # no letter or digit next (Python's \b after a word)
# after a house number: no letter or digit, nor what makes it part of a date ("el 06/09/2002", "3.5")
_END_HOUSE = rf"(?:$|[^{_L}\p{{N}}_/.-]|[.-](?:$|[^\p{{N}}]))"
_CAP = rf"\p{{Lu}}[{_L}'’-]*"  # a capitalised word ("Church", "O'Neill", "SEINÄJOKI")
_ORDINAL = r"\d{1,3}(?:st|nd|rd|th)"
_CONN = (
    r"(?:de|del|la|las|los|el|da|do|das|dos|des|du|di|della|delle|dei|degli|dal|d'|l'|y|yr|'r|of|the|van|von|der|"
    r"den|sur|le|les|aux|au|am|an|im|i|e)"
)
_NAME_WORD = rf"(?:\p{{Lu}}[{_L}'’-]+|{_ORDINAL}|(?:St|Sta|Sto|Dr|Dra|Gral|Pl)\.)"  # "Church", "4th", "Dr."
_NAME = rf"{_NAME_WORD}(?:[ \t]+(?:{_CONN}[ \t]+){{0,3}}{_NAME_WORD}){{0,4}}"  # "de la Constitución", "San Bernardo"
_HOUSE = r"\d{1,5}[A-Za-z]?(?:[-/]\d{1,4}[A-Za-z]?)?"
_NUMBER_LABEL = r"(?:[Nn][º°o]\.?|[Nn]\.[º°]|[Nn]úm\.?|[Nn]úmero|[Nn]r\.?|No\.|#)"

# street types written after the name (English; USPS Publication 28 and Royal Mail usage). "Strong"
# types rarely follow a number and a capitalised word in other senses; the others ("5 Key Points")
# need more evidence: a longer house number, another part of an address, or words announcing one
_STRONG_TYPES = (
    "Street|Road|Avenue|Lane|Drive|Boulevard|Terrace|Crescent|Close|Mews|Parkway|Highway|Court|Place|Square|Grove|"
    "Gardens|Circle|Trail|Alley|Row|Walk|Parade|Wynd|Plaza|Way|Expressway|Freeway|Turnpike|Causeway|Broadway"
)
_STRONG_ABBREVIATIONS = (
    r"St\.?|Rd\.?|Ave\.?|Av\.|Ln\.?|Dr\.?|Blvd\.?|Cres\.?|Pkwy\.?|Hwy\.?|Ct\.?|Pl\.?|Sq\.?|Gdns\.?|Cir\.?|Trl\.?|"
    r"Ter\.?|Str\."
)
_WEAK_TYPES = (
    "Approach|Bend|Bluff|Branch|Bridge|Brook|Burgs?|Bypass|Camp|Canyon|Cape|Cent(?:er|re)|Cliffs?|Club|Commons?|"
    "Corners?|Course|Courts|Coves?|Creek|Crest|Crossing|Crossroad|Curve|Dale|Dam|Divide|Estates?|Extensions?|Falls?|"
    "Ferry|Fields?|Flats?|Fords?|Forest|Forges?|Forks?|Fort|Garden|Gate|Gateway|Glens?|Greens?|Harbou?rs?|Haven|"
    "Heights|Hills?|Hollow|Inlet|Islands?|Isle|Junctions?|Keys?|Knolls?|Lakes?|Landing|Lights?|Loaf|Locks?|Lodge|"
    "Loop|Mall|Manors?|Meadows?|Mills?|Mission|Motorway|Mount|Mountains?|Neck|Orchard|Oval|Overpass|Parks?|Pass|"
    "Passage|Path|Pike|Pines?|Plains?|Points?|Ports?|Prairie|Quay|Radial|Ramp|Ranch|Rapids?|Rest|Ridges?|Rise|River|"
    "Roads|Route|Shoals?|Shores?|Skyway|Springs?|Spurs?|Squares|Station|Stravenue|Stream|Streets|Summit|Throughway|"
    "Trace|Track|Trafficway|Tunnel|Underpass|Unions?|Valleys?|Viaduct|Views?|Villages?|Ville|Vista|Wall|Ways|Wells?|"
    "Wharf|Yard|Embankment|Circus"
)
_TYPES = rf"(?P<strong>{_either_case(_STRONG_TYPES)}|{_STRONG_ABBREVIATIONS})|(?P<weak>{_WEAK_TYPES})"

# street types written before the name: Spanish, Catalan, Galician, Portuguese, French, Italian,
# Polish, Welsh
_FIRST_TYPES = _either_case(
    "Calle|Avenida|Plaza|Paseo|Carretera|Camino|Ronda|Travesía|Travesia|Glorieta|Rambla|Urbanización|Urbanizacion|"
    "Pasaje|Callejón|Cuesta|Costanilla|Carrer|Passeig|Plaça|Rúa|Rua|Travessa|Praça|Largo|Estrada|Rue|Chemin|Allée|"
    "Impasse|Quai|Cours|Viale|Vicolo|Piazza|Piazzale|Corso|Strada|Ulica|Aleja"
) + (
    r"|C/\.?|c/\.?|Avda\.?|avda\.?|Av\.?|Pza\.|Pl\.|P[º°]\.?|Pso\.|Ctra\.|Cmno\.|Rda\.|Trav\.|Urb\.|Pje\.|Via|Avenue|"
    r"Boulevard|ul\.|al\.|os\.|pl\.|Heol|Ffordd|Stryd|Lôn|Rhodfa|Maes|Cilgant|Teras|Clos|Llys|Sgwâr"
)
_WELSH_TYPES = ("Heol", "Ffordd", "Stryd", "Lôn", "Rhodfa", "Cilgant", "Sgwâr")

# street types that end the street's word: Germanic, Nordic, Dutch, Finnish, Baltic, and Icelandic
# in every case ("Laugavegur", "á Laugavegi", "Hverfisgata", "á Hverfisgötu")
_SUFFIXES = (
    "straße|strasse|gasse|weg|allee|platz|damm|ufer|steig|pfad|chaussee|vej|gade|gaden|veien|vegen|veg|vägen|väg|"
    "gatan|gata|gate|gränd|straat|laan|gracht|plein|kade|singel|dreef|katu|kuja|tie|polku|kaari|väylä|rinne|tänav|"
    "iela|götu|götur|vegur|vegi|vegar|stræti|strætis|braut|brautar|stígur|stíg|stígs|tún|túni|túns|torg|torgi|"
    "torgs|gerði|gerðis|hagi|haga|holt|holti|hlíð|hlíðar|mýri|mýrar|bakki|bakka|hvammur|hvammi|teigur|teig|teigi|"
    "leiti|salir|sölum|lind|lindir|lindum|heiði|hrauni|melur|mel|vellir|völlum|garður|garði|hólar|hólum|sund|sundi|"
    "bær|bæ|bæjar|kór|kórs|tröð|stekkur|stekk|hjalla|hjalli|brekka|brekku|ás|ási|bergi|hæð|hæðar|str"
)
# separate words that name a street's type between its name and its number ("Rákóczi út 13")
_MIDDLE_TYPES = (
    _either_case(_STRONG_TYPES) + r"|St\.?|Rd\.?|Ave\.?|út|utca|u\.|tér|körút|krt\.|tee|tänav|mnt\.|iela|g\.|ulica"
)

_MONTHS = {
    "January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November",
    "December", "Jan", "Feb", "Mar", "Apr", "Jun", "Jul", "Aug", "Sep", "Sept", "Oct", "Nov", "Dec", "Monday",
    "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday", "Enero", "Febrero", "Marzo", "Abril", "Mayo",
    "Junio", "Julio", "Agosto", "Septiembre", "Octubre", "Noviembre", "Diciembre",
}  # fmt: skip
_LABELS = {
    "E-mail",
    "Email",
    "email",
    "e-mail",
    "Tel",
    "Tfno",
    "Telf",
    "Fax",
    "Correo",
    "Teléfono",
    "Phone",
    "Mobile",
    "Sími",
}
# words that start no town: greetings, labels and words that open a sentence or a signature
_NOT_TOWNS = {
    "Dear", "Hi", "Hello", "Hey", "Tel", "Tel.", "Phone", "Telephone", "Mobile", "Cell", "Fax", "Email", "E-mail",
    "Desk",
    "Office", "Re", "Subject", "Yours", "Regards", "Best", "Sincerely", "Thanks", "Thank", "Kind", "Name", "Date",
    "Estimado", "Estimada", "Hola", "Teléfono", "Móvil", "Correo", "Fecha", "Saludos", "Atentamente", "Kæri", "Kæra",
    "Sími", "Netfang", "Kveðja", "Mr", "Mrs", "Ms", "Dr", "Sr", "Sra", "The", "I", "We", "He", "She", "They", "It",
    "This", "That", "Please", "If", "And", "But", "Or", "On", "In", "At", "To", "From", "Nombre", "Apellidos", "NHC",
    "NASS", "Edad", "Sexo", "Datos", "Remitido", "Localidad", "Provincia", "CP", "Domicilio", "Apt", "Suite", "See",
    "Mail", "Website", "Web", "Fri", "Mon", "Tue", "Wed", "Thu", "Sat", "Sun", "Monday", "Friday", "Postcode",
    "Postal", "Post", "ZIP", "Zip", "Código", "Póstnúmer", "Reference", "Ref", "Code",
}  # fmt: skip
_US_STATES = (
    "AL|AK|AZ|AR|CA|CO|CT|DE|DC|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|NH|NJ|NM|NY|NC|ND|OH|OK|"
    "OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|PR|GU|VI|AS|MP|AA|AE|AP"
)
# towns with a post office in Iceland (the stem of each name: any case ending may follow)
_FJORDS = (
    "Hafnar",
    "Ísa",
    "Grundar",
    "Patreks",
    "Tálkna",
    "Siglu",
    "Ólafs",
    "Vopna",
    "Seyðis",
    "Reyðar",
    "Eski",
    "Fáskrúðs",
)
_IS_STEMS = (
    "Reykjavík", "Seltjarnarnes", "Kópavog", "Garðabæ", "Álftanes", "Reykjanesbæ", "Keflavík", "Njarðvík", "Grindavík",
    "Sandgerð", "Vog", "Mosfellsbæ", "Akranes", "Borgarnes", "Stykkishólm", "Ólafsvík", "Búðardal", "Bolungarvík",
    "Súðavík", "Flateyr", "Suðureyr", "Þingeyr", "Bíldudal", "Hólmavík", "Hvammstang", "Blönduós", "Skagaströnd",
    "Sauðárkrók", "Varmahlíð", "Hofsós", "Akureyr", "Grenivík", "Dalvík", "Hrísey", "Húsavík", "Kópasker", "Raufarhöfn",
    "Þórshöfn", "Egilsstað", "Neskaupstað", "Djúpavog", "Höfn", "Selfoss", "Hveragerð", "Þorlákshöfn", "Eyrarbakk",
    "Stokkseyr", "Laugarvatn", "Flúð", "Hell", "Hvolsvöll", "Vík", "Kirkjubæjarklaust", "Vestmannaeyj",
)  # fmt: skip
# a post-office town's stem: a case ending of up to four letters follows
_IS_TOWNS = "|".join([f"{stem}fjörð|{stem}firð" for stem in _FJORDS] + list(_IS_STEMS))

# -- anchors ---------------------------------------------------------------------------------------

# "27 Church Road", "4820 Maple Ridge Drive", "305 W 4th St", "12 Heol y Frenhines" (see _TYPE_FIRST)
_NUMBER_FIRST = _linear(
    BEFORE_WORD + rf"(?P<m>(?P<house>{_HOUSE})[ \t]+(?P<name>(?:(?:{_NAME_WORD}|[{_L}][{_L}'’-]*)[ \t]+){{1,4}})"
    rf"(?:{_TYPES}))(?P<after>{_END})"
)
# "Calle Mayor 12", "Avda. de la Constitución 5", "c/ San Bernardo, 3", "Plaza de España, 1", "Via Tasso 129";
# with a number, the name may be in lower case ("calle embajadores, 23"); "Ctra. de Colmenar, km 9,100"
_STREET_NUMBER = rf"(?:{_NUMBER_LABEL}[ \t]*)?{_HOUSE}|[sS]/[nN]|km\.?[ \t]*\d{{1,4}}(?:[.,]\d{{1,3}})?"
_TYPE_FIRST = _linear(
    BEFORE_WORD + rf"(?P<m>(?P<type>{_FIRST_TYPES})[ \t]*[,.]?[ \t]*(?:{_CONN}[ \t]+){{0,3}}"
    rf"(?:{_NAME}(?P<number>,?[ \t]*(?:{_STREET_NUMBER}))"
    rf"|(?:[{_L}][{_L}'’.-]*[ \t]+){{0,5}}?[{_L}][{_L}'’.-]*(?P<lower_number>,?[ \t]*(?:{_STREET_NUMBER}))"
    rf"|{_NAME}))" + _END_HOUSE
)
# "Kastanjevej 17", "Hverfisgötu 12", "Mäkelänkatu 54 B 12", "Hauptstraße 42"
_SUFFIXED = _linear(
    BEFORE_WORD + rf"(?P<m>\p{{Lu}}[{_L}-]*(?:{_SUFFIXES})\.?[ \t]+\d{{1,4}}[A-Za-z]?(?:[-/]\d{{1,4}})?"
    r"(?:[ \t][A-Z](?:[ \t]\d{1,4})?)?)" + _END_HOUSE
)
# "Rákóczi út 13", "Baker Street 12"
_MIDDLE_TYPE = _linear(
    BEFORE_WORD + rf"(?P<m>{_CAP}(?:[ \t]+{_CAP}){{0,2}}[ \t]+(?:{_MIDDLE_TYPES})[ \t]+{_HOUSE})" + _END
)
# a name and a number, with no type ("Pivovarská 276", "Brisas 6802"): an address only with more
# evidence — a part of an address after it ("street", a flat, a postcode), words that announce one, or
# the start of a line of an address block
_NAME_NUMBER = _linear(
    BEFORE_WORD + rf"(?P<m>(?P<name>{_CAP}(?:[ \t]+(?:{_CONN}[ \t]+){{0,2}}{_CAP}){{0,3}}),?[ \t]+\d{{1,4}}[A-Za-z]?)"
    rf"(?:$|[^{_L}\p{{N}}_/:.,%-]|[.,](?:$|[^\p{{N}}]))"
)
# a name "without number" (s/n), the Spanish way: "José Atxotegi, s/n", "La Choupana s/n"
_NO_NUMBER = _linear(
    BEFORE_WORD + rf"(?P<m>{_CAP}(?:[ \t]+(?:{_CONN}[ \t]+){{0,2}}{_CAP}){{0,3}},?[ \t]*[sS]/[nN]\.?)" + _END
)
# a flat or a suite alone is part of an address ("moved into Apartment 5B"); a floor or a door in
# Spanish ("piso 3") only with more evidence
_UNIT_ALONE = _linear(
    BEFORE_WORD
    + r"(?P<m>(?:(?P<flat>Apt\.?|APT\.?|Apartment|Suite|Flat|Íbúð|íbúð)|Piso|piso|Puerta|puerta|Planta|planta)"
    r"[ \t]*#?[ \t]*\d{1,5}[A-Za-z]?)" + _END
)
_STREETISH = rf"(?:{_HOUSE}[ \t]+)?{_CAP}(?:[ \t]+(?:{_CONN}[ \t]+)?(?:{_CAP}|str\.?|st\.?)){{0,3}}(?:[ \t]+{_HOUSE})?"
# "the corner of Tallinna 4 and Birch Radial"
_CORNER = _linear(rf"(?i:corner[ \t]+of)[ \t]+(?P<m>(?:the[ \t]+)?{_STREETISH}[ \t]+and[ \t]+{_STREETISH})" + _END)
_POST_BOX = _linear(
    BEFORE_WORD
    + r"(?P<m>(?:P\.?[ \t]?O\.?[ \t]*Box|PO[ \t]+Box|Post[ \t]+Office[ \t]+Box|Apartado(?:[ \t]+de[ \t]+[Cc]orreos)?"
    r"|Apdo\.|Pósthólf)[ \t]*\d{1,6}|(?:PSC|CMR|Unit)[ \t]+\d{3,5},?[ \t]*Box[ \t]+\d{1,5}"
    r"|(?:USNS|USNV|USS|USCGC)[ \t]+"
    rf"{_CAP}|(?:APO|FPO|DPO)[ \t]+(?:AA|AE|AP)[ \t]+\d{{5}})" + _END
)
# the UK's postcode format (Royal Mail): outward code, a space, inward code; upper case
_UK_POSTCODE_FORM = (
    r"(?:GIR[ \t]?0AA|[A-PR-UWYZ](?:[0-9]{1,2}|[A-HK-Y][0-9]{1,2}|[0-9][A-HJKPSTUW]|[A-HK-Y][0-9][ABEHMNPRVWXY])"
    r"[ \t]?[0-9][ABD-HJLNP-UW-Z]{2})"
)
_UK_POSTCODE = _linear(BEFORE_WORD + rf"(?P<m>{_UK_POSTCODE_FORM})" + _END)
_US_TOWN = _linear(
    BEFORE_WORD + rf"(?P<m>{_CAP}(?:[ \t]+{_CAP}){{0,2}},[ \t]*(?:{_US_STATES})[ \t]+\d{{5}}(?:-\d{{4}})?)" + _END
)
_POSTCODE_LABEL = (
    r"(?i:c\.[ \t]?p\.|cp|c[óo]digo[ \t]+postal|zip(?:[ \t]*code)?|post[ \t]?code|postal[ \t]+code|póstnúmer)"
)
_LABELLED_POSTCODE = _linear(
    BEFORE_WORD + _POSTCODE_LABEL + r"(?:[ \t]+(?:is|es|er))?[ \t]*[:.]?[ \t]*(?P<m>\d{3,5}(?:-\d{3,4})?)" + _END
)
_TOWN = rf"{_CAP}(?:[ \t]+(?:{_CONN}[ \t]+){{0,2}}{_CAP}){{0,3}}"
_ES_POSTCODE = _linear(BEFORE_WORD + rf"(?P<m>(?:0[1-9]|[1-4][0-9]|5[0-2])[0-9]{{3}}[ \t]+{_TOWN})" + _END)
_IS_POSTCODE = _linear(BEFORE_WORD + rf"(?P<m>[1-9][0-9]{{2}}[ \t]+(?:{_IS_TOWNS})[{_L}]{{0,4}})" + _END)
# words that announce an address, then a house number and a name, or a name and a number
_PREPOSITIONS = r"(?:at|on|in|to|into|en|a|al|á|að|í|til)"
_CUES = (
    r"(?i:(?:(?:home|postal|billing|shipping|mailing|registered|new|business)[ \t]+)?address(?:es)?"
    r"(?:[ \t]+(?:is|was|changed[ \t]+to|to))?|addr\.|corner[ \t]+of|dirección(?:[ \t]+postal)?|direccion|"
    r"domicilio(?:[ \t]+en)?|domiciliad[oa][ \t]+en|heimilisfang(?:ið)?(?:[ \t]+er)?|til[ \t]+heimilis[ \t]+(?:á|að|í)|"
    r"(?:is|are|was|were)[ \t]+(?:at|on)|"
    r"(?:lives?|lived|living|located|resides?|resided|residing|moved|moving|relocated|based|stays?|staying|send|sent|"
    r"deliver(?:ed)?|ship(?:ped)?|mail(?:ed)?|post(?:ed)?|return(?:ed)?|forward(?:ed)?|meet(?:[ \t]+(?:me|us))?|enter|"
    r"visit|drops?[ \t]+(?:you|me|us|them)[ \t]+off|vive|viven|vivía|reside|residente|sit[oa]|situad[oa]|ubicad[oa]|"
    r"enviar|envíe|envie|entregar|entregue|remitir|býr|bjó|búa|flutti|flytur|sendið|sendu)"
    rf"(?:[ \t]+[\p{{L}}]+){{0,2}}?[ \t]+{_PREPOSITIONS})"
)
_CUED = _linear(
    rf"(?:^|[^{_L}]){_CUES}[ \t]*[:\-–]?[ \t]*(?:\r?\n[ \t]*)?"
    rf"(?P<m>{_HOUSE}[ \t]+{_TOWN}|{_TOWN},?[ \t]+{_HOUSE}){_END_HOUSE}"
)
_CUE_BEFORE = _linear(rf"(?:^|[^{_L}]){_CUES}[ \t]*[:\-–]?[ \t]*(?:\r?\n[ \t]*)?$")

# -- parts around an anchor ------------------------------------------------------------------------

_UNIT = (
    r"(?:Apt|APT|apt|Apartment|Apto|Suite|Ste|Unit|Flat|Floor|Fl|Room|Rm|Bldg|Building|Block|Piso|piso|Planta|planta|"
    r"Puerta|puerta|Pta|pta|Portal|portal|Escalera|escalera|Esc|esc|Bloque|bloque|Local|local|Parcela|parcela|Dpto|"
    r"íbúð|Íbúð)\.?[ \t]*(?:n[º°o]\.?[ \t]*)?#?[ \t]*(?:\d{1,5}[A-Za-z]?|[A-Z])"
)
_FLOOR = (
    r"(?:\d{1,2}[ \t]*\.?[ \t]*(?:[º°ª]|mo|o)[ \t]*(?:[A-Za-z]{1,2}|izquierda|izqda|izda|izq|derecha|dcha|dcha\.|"
    r"centro|ctro)?\.?|\d{1,2}\.[ \t]*(?:hæð|h\.)(?:[ \t]+til[ \t]+(?:hægri|vinstri))?|\d{1,2}[ \t]?[A-Z]|"
    r"[Bb]ajo(?:[ \t]+[A-Z])?|[Áá]tico|[Ee]ntresuelo|[Ii]zquierda|[Dd]erecha|[Dd]cha\.|[Ii]zq(?:da)?\.|[Ii]zda\.)"
)
_PART_SEPARATOR = r"[ \t]*(?:[,;][ \t]*)?(?:\r?\n[ \t]*(?:[>|*•?#-]+[ \t]*)*)?(?:,[ \t]*)?"
# no letter or digit next, nor a digit after spaces: a postcode or number never runs into a phone number
_END_NUMBER = rf"(?:$|[^{_L}\p{{N}}_ \t]|[ \t]+(?:$|[^\p{{N}} \t]))"
_CODE = r"(?:\d{4,6}|\d{3}[ ]\d{2}|\d{4}-\d{3}|\d{2}-\d{3}|\d{5}-\d{4}|\d{3})"  # 8000, 340 12, 4050-262, 00-876, 101
_TOWN_END = r"(?:$|[ \t]*(?:\r?\n|[,;)(])|\.(?:[ \t\r\n]|$))"
_NEXT = _linear(
    rf"^(?:[ \t]*[.,-]?[ \t]*"
    rf"(?P<dotcode>(?:E-)?(?:0[1-9]|[1-4][0-9]|5[0-2])[0-9]{{3}}\.?[ \t]*(?:-[ \t]*)?{_TOWN}){_END}"
    rf"|[ \t]*(?P<bracketed>\((?:0[1-9]|[1-4][0-9]|5[0-2])[0-9]{{3}}\)[ \t]*{_TOWN}){_END}"
    rf"|(?P<sep>{_PART_SEPARATOR})(?:"
    rf"(?P<unit>{_UNIT}){_END}"
    rf"|(?P<uk>{_UK_POSTCODE_FORM}){_END}"
    rf"|(?P<floor>{_FLOOR})(?:$|[^{_L}\p{{N}}_])"
    rf"|(?P<labelled>{_POSTCODE_LABEL}[ \t]*[:.]?[ \t]*\d{{3,5}}(?:-\d{{3,4}})?){_END}"
    rf"|(?P<region>[A-Z]{{2,3}}[ \t]+{_CODE}){_END_NUMBER}"
    rf"|(?P<codetown>{_CODE}[ \t]+{_TOWN}){_END}"
    rf"|(?P<code>{_CODE}){_END_NUMBER}"
    rf"|(?P<number>(?:{_NUMBER_LABEL}[ \t]*)?{_HOUSE}|[sS]/[nN]){_END_NUMBER}"
    rf"|(?P<town>{_TOWN}(?:[ \t]+(?:{_CODE}|{_UK_POSTCODE_FORM}))?){_TOWN_END}"
    rf"|(?P<paren>\({_CAP}(?:[ \t]+{_CAP}){{0,2}}\))"
    rf"|(?P<street>St\.|[Ss]treet){_END}"
    r"))"
)
_NUMBERS = {"number", "code", "region"}  # parts that may be followed by another number ("…, 43 73313")
_PART_GROUPS = (
    "dotcode",
    "bracketed",
    "unit",
    "uk",
    "floor",
    "labelled",
    "region",
    "codetown",
    "code",
    "number",
    "town",
    "paren",
    "street",
)
# before an anchor: a flat or a house number ("Flat 4, " + "27 Church Road"; "no. " + "32 Albert Terrace")
_PREVIOUS = _linear(
    rf"(?:^|[^{_L}\p{{N}}_])(?P<m>(?:(?P<unit>{_UNIT})|{_HOUSE}|{_NUMBER_LABEL}|[Nn]umber)[ \t]*,?[ \t]*)$"
)
# a town right before a postcode ("Leeds " + "LS6 2AB")
_TOWN_BEFORE = _linear(rf"(?:^|[^{_L}'’-])(?P<m>{_TOWN}[ \t]+)$")
_GAP = _linear(rf"^{_PART_SEPARATOR}$")
# words that never end a street's name before its number
_NOT_BEFORE_NUMBERS = {"el", "la", "los", "las", "de", "del", "a", "al", "en", "y", "o", "the", "of", "on", "at", "to"}
# words of a date or a time, never of a street
_NOT_STREETS = _MONTHS | {"AM", "PM", "GMT", "UTC", "CET", "Days", "Hours", "Minutes", "Weeks", "Years", "Uhr"}
# words that number the parts of a document, never a street ("Imagen 1" on a line of its own)
_NOT_STREETS |= {
    "Figure", "Fig", "Table", "Chapter", "Section", "Page", "Annex", "Appendix", "Article", "Part", "Step", "Image",
    "Imagen", "Figura", "Tabla", "Capítulo", "Sección", "Página", "Anexo", "Apéndice", "Artículo", "Paso", "Mynd",
    "Tafla", "Kafli", "Viðauki", "Grein", "Liður",
}  # fmt: skip


class _Anchor:
    __slots__ = ("end", "kind", "start", "strong")

    def __init__(self, start: int, end: int, kind: str, strong: bool) -> None:
        self.start, self.end, self.kind, self.strong = start, end, kind, strong


def _words(value: str) -> list[str]:
    return value.replace(",", " ").split()


def _anchors(text: str, language: str | None) -> Iterable[_Anchor]:
    for m in _NUMBER_FIRST.finditer(text):
        name = _words(m.group("name") or "")
        lower = [w for w in name if w[:1].islower()]
        if _NOT_STREETS.intersection(name) or len(lower) > 1 or not _FUNCTION_WORDS.isdisjoint(lower):
            continue
        strong = m.group("strong") is not None and not lower
        long_number = sum(ch.isdigit() for ch in m.group("house") or "") >= 3
        yield _Anchor(m.start(), m.end(), "street", strong or long_number)
    for m in _TYPE_FIRST.finditer(text):
        if m.group("lower_number") is not None:
            words = text[m.start() : m.start("lower_number")].split()
            if words[-1].lower() in _NOT_BEFORE_NUMBERS:
                continue  # "se mudó a Ronda el 06/09": a town, an article and a day
        numbered = m.group("number") is not None or m.group("lower_number") is not None
        yield _Anchor(m.start(), m.end(), "type-first", numbered or (m.group("type") or "") in _WELSH_TYPES)
    for pattern, kind in ((_SUFFIXED, "street"), (_MIDDLE_TYPE, "street"), (_POST_BOX, "box"), (_NO_NUMBER, "street")):
        for m in pattern.finditer(text):
            yield _Anchor(m.start(), m.end(), kind, True)
    for m in _NAME_NUMBER.finditer(text):
        if not _NOT_STREETS.intersection(_words(m.group("name") or "")):
            yield _Anchor(m.start(), m.end(), "name-number", False)
    for m in _CORNER.finditer(text):
        yield _Anchor(m.start(), m.end(), "corner", True)
    for m in _UNIT_ALONE.finditer(text):
        yield _Anchor(m.start(), m.end(), "unit", m.group("flat") is not None)
    for pattern in (_UK_POSTCODE, _US_TOWN, _LABELLED_POSTCODE):
        for m in pattern.finditer(text):
            yield _Anchor(m.start(), m.end(), "postcode", True)
    local = _ES_POSTCODE if language == "es" else _IS_POSTCODE if language == "is" else None
    if local is not None:
        for m in local.finditer(text):
            yield _Anchor(m.start(), m.end(), "postcode", True)
    for m in _CUED.finditer(text):
        if not _NOT_STREETS.intersection(_words(m.value())):
            yield _Anchor(m.start(), m.end(), "cued", True)


def _extend_right(text: str, end: int, limit: int, cased: bool = False) -> tuple[int, int]:
    """The end of the address whose known part ends at ``end``, and how many parts were added."""
    parts, last = 0, ""
    while parts < _MAX_PARTS and end < limit:
        m = _NEXT.search(text[end : min(limit, end + _STEP_CHARS)])
        group = None if m is None else next((g for g in _PART_GROUPS if m.start(g) >= 0), None)
        if m is None or group is None:
            break
        value = m.group(group) or ""
        first = value.split()[0] if value.split() else ""
        separator = m.group("sep") or ""
        if group == "town" and (first.rstrip(".:") in _NOT_TOWNS or first in _NOT_STREETS):
            break
        if group == "town" and text[end - 1] == "." and not ("," in separator or "\n" in separator):
            break  # "… Rissik St. Then": a sentence after the address
        if cased and not _FUNCTION_WORDS.isdisjoint(value.lower().split()):
            words = value.split()
            kept = next(i for i, w in enumerate(words) if w.lower() in _FUNCTION_WORDS)
            if group == "town" and kept > 0:  # "york thanks": the town, not the word after it
                end += m.start(group) + value.index(words[kept - 1]) + len(words[kept - 1])
            break
        if group == "number" and "\n" in separator and sum(ch.isdigit() for ch in value) < 3:
            break  # a short number alone on the next line is no part of the address
        if group in ("number", "code") and not ("," in separator or "\n" in separator or last in _NUMBERS):
            break  # "Call 555 0199": numbers in a row are a phone number's, not an address's parts
        end += m.end(group)
        parts += 1
        last = group
    return end, parts


def _extend_left(text: str, start: int, kind: str) -> tuple[int, bool]:
    """The start of the address whose known part starts at ``start``, and whether a flat or a unit
    is among the parts added (a house number alone is no evidence: "In 2020 Windows 10")."""
    parts, unit = 0, False
    for _ in range(2):
        before = text[max(0, start - 60) : start]
        m = _PREVIOUS.search(before)
        if m is None or not m.value().strip():
            break
        start -= len(before) - m.start()
        parts += 1
        unit = unit or m.group("unit") is not None
    if kind == "postcode" and not parts:
        before = text[max(0, start - 60) : start]
        m = _TOWN_BEFORE.search(before)
        if m is not None and m.value().split()[0] not in _NOT_TOWNS:
            start -= len(before) - m.start()
    return start, unit


def find_addresses(text: str, language: str | None, detector: str = "patterns") -> list[Entity]:
    """Addresses in ``text``, each one span from its first part to its last.

    A text written without capitals (typed on a phone: "688 rue du centre 320, apt. 169") is read with
    a capital on each word but the particles; there an anchor with a word such as "the" or "en" in it
    is no address."""
    cased = not any(ch.isupper() for ch in text)
    source = _capitalised(text) if cased else text
    spans: list[tuple[int, int]] = []
    for anchor in sorted(_anchors(source, language), key=lambda a: (a.start, -a.end)):
        if cased and not _FUNCTION_WORDS.isdisjoint(source[anchor.start : anchor.end].lower().split()):
            continue
        if spans and anchor.start < spans[-1][1]:
            if anchor.end > spans[-1][1]:  # an anchor that goes on from inside an address is part of it
                start, _ = spans.pop()
                end, _ = _extend_right(source, anchor.end, min(len(text), start + _MAX_CHARS), cased)
                spans.append((start, end))
            continue
        start, unit = _extend_left(source, anchor.start, anchor.kind)
        end, after = _extend_right(source, anchor.end, min(len(text), start + _MAX_CHARS), cased)
        if not anchor.strong and not (unit or after or _cued(source, start) or _own_line(source, start, end)):
            continue
        spans.append((start, end))
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start - merged[-1][1] <= 8 and _GAP.search(text[merged[-1][1] : start]) is not None:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return [Entity(start, _trim(source, start, end), ADDRESS, _SCORE, detector) for start, end in merged]


# words that name no street or town, in a text written without capitals
_FUNCTION_WORDS = {
    "the", "a", "an", "on", "in", "at", "to", "of", "for", "with", "by", "from", "and", "or", "my", "your", "his",
    "her", "our", "their", "this", "that", "i", "we", "you", "he", "she", "it", "they", "is", "are", "was", "were",
    "be", "have", "has", "had", "do", "did", "not", "no", "times", "miles", "km", "more", "less", "about", "el", "un",
    "una", "en", "mi", "tu", "su", "es", "son", "fue", "por", "para", "con", "sin", "que", "og", "í", "á", "að",
    "er", "var", "ég", "þú", "hann", "hún", "me", "us", "them", "him", "am", "pm", "days", "hours", "minutes",
    "years", "weeks", "please", "can", "will", "would", "could", "should", "if", "when", "then", "than", "also",
    "thanks", "thank", "pls", "thx", "regards", "cheers", "ok", "gracias", "takk",
}  # fmt: skip


def _capitalised(text: str) -> str:
    """``text`` with each word's first letter in capitals, but for the particles of names ("de", "la"):
    the same length, so offsets hold."""
    out = list(text)
    i, n = 0, len(text)
    while i < n:
        if text[i].isalpha() and (i == 0 or not text[i - 1].isalnum()):
            j = i
            while j < n and (text[j].isalnum() or text[j] in "'’-"):
                j += 1
            upper = text[i].upper()
            if len(upper) == 1 and text[i:j] not in _PARTICLE_WORDS:
                out[i] = upper
            i = j
        else:
            i += 1
    return "".join(out)


_PARTICLE_WORDS = {
    "de", "del", "la", "las", "los", "el", "da", "do", "das", "dos", "des", "du", "di", "della", "delle", "dei",
    "degli", "dal", "y", "yr", "of", "the", "van", "von", "der", "den", "sur", "le", "les", "aux", "au", "am", "an",
    "im", "i", "e", "s/n",
}  # fmt: skip


def _trim(text: str, start: int, end: int) -> int:
    """``end``, before a label the last part ran into ("… 31008 Pamplona E-mail") and separators."""
    value = text[start:end]
    cut = len(value)
    for word in value.split()[1:]:
        if word.rstrip(".:") in _LABELS:
            cut = value.find(word, 1)
            break
    end = start + cut
    while end > start and text[end - 1] in " \t\r\n,;:.-":
        end -= 1
    return end


def _cued(text: str, start: int) -> bool:
    return _CUE_BEFORE.search(text[max(0, start - 40) : start]) is not None


def _own_line(text: str, start: int, end: int) -> bool:
    """Whether ``text[start:end]`` is a line of its own, as in a letter's address block (after "> " or
    "- " at most), with another line after it."""
    line = text.rfind("\n", max(0, start - 13), start) + 1
    if (line == 0 and start > 12) or any(ch.isalnum() for ch in text[line:start]):
        return False
    rest = text[end : end + 40]
    newline = rest.find("\n")
    return newline >= 0 and not any(ch.isalnum() for ch in rest[:newline])

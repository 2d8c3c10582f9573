"""Postal addresses found as one span: street and number, flat or floor, postcode, town, region, country
(issue 20 §6). Every text here was written for these tests; the streets and people are invented."""

from __future__ import annotations

import pytest

from soberana.privacy.detectors.addresses import find_addresses
from soberana.privacy.detectors.patterns import PatternDetector
from soberana.privacy.engine import PiiEngine, builtin_detectors
from soberana.privacy.entities import resolve


@pytest.fixture(scope="module")
def engine() -> PiiEngine:
    return PiiEngine(builtin_detectors())


def addresses(text: str, language: str = "en") -> list[str]:
    return [e.value(text) for e in find_addresses(text, language)]


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("Send it to Flat 4, 27 Church Road, Leeds LS6 2AB by Friday.", "Flat 4, 27 Church Road, Leeds LS6 2AB"),
        ("Mrs Pike of 221B Baker Street, London NW1 6XE called.", "221B Baker Street, London NW1 6XE"),
        ("Deliver to 3 The Crescent, Bath BA1 2LR, rear door.", "3 The Crescent, Bath BA1 2LR"),
        ("Keys are at no. 32 Albert Terrace, opposite the park.", "no. 32 Albert Terrace"),
        ("Registered address: Unit 7, 40 Station Approach, Woking, Surrey GU22 7AP", None),
    ],
)
def test_uk_addresses_are_one_span_from_the_flat_to_the_postcode(text: str, address: str | None) -> None:
    expected = address or text.split(": ", 1)[1]
    assert addresses(text) == [expected]


def test_welsh_street_names() -> None:
    text = "The claimant lives at 12 Heol y Frenhines, Caerdydd CF10 2AB with her son."
    assert addresses(text) == ["12 Heol y Frenhines, Caerdydd CF10 2AB"]
    block = "Owen Price\n5 Stryd Fawr\nAberystwyth\nSY23 2HB\nTel: 01970 000000"
    assert addresses(block) == ["5 Stryd Fawr\nAberystwyth\nSY23 2HB"]


def test_a_uk_postcode_is_validated() -> None:
    assert addresses("Postcode EH1 2NG, reference XY1 2CD.") == ["EH1 2NG"]  # no inward code has a C
    assert addresses("Model QV1 1AA and code ZZ9 9ZZ were used.") == []  # no Q first, no Z second


def test_us_addresses_and_zip_codes() -> None:
    text = "Mail the refund to 4820 Maple Ridge Drive, Apt. 12, Springfield, IL 62704."
    assert addresses(text) == ["4820 Maple Ridge Drive, Apt. 12, Springfield, IL 62704"]
    block = "Darnell Brooks\n1190 Old Mill Rd\nSuite 300\nAustin, TX 78701"
    assert addresses(block) == ["1190 Old Mill Rd\nSuite 300\nAustin, TX 78701"]
    assert addresses("Her ZIP code is 30309 and she lives alone.") == ["30309"]
    assert addresses("Forward mail to PSC 4120, Box 77\nAPO AE 09021 while deployed.") == [
        "PSC 4120, Box 77\nAPO AE 09021"
    ]


def test_a_zip_code_is_no_phone_number_inside_an_address() -> None:
    text = "Ship it to PO Box 4410, Tacoma, WA 98401-4410 please."
    found = [(e.label, e.value(text)) for e in resolve(PatternDetector().detect(text, "en"))]
    assert found == [("ADDRESS", "PO Box 4410, Tacoma, WA 98401-4410")]


@pytest.mark.parametrize(
    ("text", "address"),
    [
        (
            "Vive en la calle de Alcalá, número 45, 3.º izquierda, 28014 Madrid desde 2019.",
            "calle de Alcalá, número 45, 3.º izquierda, 28014 Madrid",
        ),
        ("Domicilio: C/ Mayor 12, 2º B, 28013 Madrid.", "C/ Mayor 12, 2º B, 28013 Madrid"),
        (
            "Con domicilio en Avda. de la Constitución 5, piso 3, puerta 2, 41001 Sevilla.",
            "Avda. de la Constitución 5, piso 3, puerta 2, 41001 Sevilla",
        ),
        (
            "La oficina está en Plaza de España 1, 5ºD, CP 50001, Zaragoza.",
            "Plaza de España 1, 5ºD, CP 50001, Zaragoza",
        ),
        (
            "Reside en Camino de la Fuente 3, 33205 Gijón (Asturias) con su madre.",
            "Camino de la Fuente 3, 33205 Gijón (Asturias)",
        ),
        ("Entregar en c/ San Bernardo, 3, 1º dcha. antes del lunes.", "c/ San Bernardo, 3, 1º dcha"),
        ("Ronda de Segovia 50, escalera B, 4º A, 28005 Madrid", "Ronda de Segovia 50, escalera B, 4º A, 28005 Madrid"),
        ("Hospital del Norte. Altos del Río, s/n. 24071 León", "Altos del Río, s/n. 24071 León"),
    ],
)
def test_spanish_addresses(text: str, address: str) -> None:
    assert addresses(text, "es") == [address]


def test_a_spanish_postcode_with_its_town_or_label_is_an_address() -> None:
    assert addresses("Código postal 46001, municipio de Valencia.", "es") == ["46001"]
    assert addresses("El solicitante, 29001 Málaga, pide el certificado.", "es") == ["29001 Málaga"]
    assert addresses("La Plaza Mayor acoge el mercado cada domingo.", "es") == []


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("Sigríður býr á Hverfisgötu 12, 101 Reykjavík.", "Hverfisgötu 12, 101 Reykjavík"),
        ("Heimilisfang: Laugavegur 28b, íbúð 201, 101 Reykjavík", "Laugavegur 28b, íbúð 201, 101 Reykjavík"),
        ("Sendið bréfið á Skólavörðustíg 8, 3. hæð, 101 Reykjavík.", "Skólavörðustíg 8, 3. hæð, 101 Reykjavík"),
        ("Fundurinn verður á Austurvegi 6, 800 Selfossi.", "Austurvegi 6, 800 Selfossi"),
        ("Hún býr að Bankastræti 5 og vinnur í miðbænum.", "Bankastræti 5"),
    ],
)
def test_icelandic_addresses_in_any_case(text: str, address: str) -> None:
    assert addresses(text, "is") == [address]


def test_icelandic_postcodes_need_a_post_town() -> None:
    assert addresses("Árið 2020 fengu 300 Íslendingar styrk.", "is") == []
    assert addresses("Hann skráði sig á 600 Akureyri.", "is") == ["600 Akureyri"]


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("Please update my address to Kastanjevej 17, 8000 Aarhus, Denmark.", "Kastanjevej 17, 8000 Aarhus, Denmark"),
        (
            "Send the parcel to Rua das Flores 88, 4050-262 Porto, Portugal.",
            "Rua das Flores 88, 4050-262 Porto, Portugal",
        ),
        ("My new address is Mäkelänkatu 54 B 12, 00510 Helsinki.", "Mäkelänkatu 54 B 12, 00510 Helsinki"),
        ("Send the cheque to ul. Ogrodowa 14, 00-876 Warszawa.", "ul. Ogrodowa 14, 00-876 Warszawa"),
        ("The mural refers to Kalinowa 33 street in the old town.", "Kalinowa 33 street"),
        ("The bus station is on Zielona 17.", "Zielona 17"),
        ("Our stand is at the corner of Tallinna 4 and Birch Radial all week.", "Tallinna 4 and Birch Radial"),
        (
            "Billing address:\n904 Kirkeveien 31\nApt. 7\nBergen\nNorway 5003",
            "904 Kirkeveien 31\nApt. 7\nBergen\nNorway 5003",
        ),
        ("> Lena Vogt\n> 3318 Lindenweg 4\n> Suite 210\n> Graz", "3318 Lindenweg 4\n> Suite 210\n> Graz"),
    ],
)
def test_addresses_of_other_countries(text: str, address: str) -> None:
    assert addresses(text) == [address]


def test_an_address_written_without_capitals() -> None:
    text = "hi, pls send the card to 41 mill lane, apt. 3, york thanks"
    assert addresses(text) == ["41 mill lane, apt. 3, york"]
    assert addresses("i walked 3 miles down the road to the station square yesterday") == []


@pytest.mark.parametrize(
    "text",
    [
        "The meeting covered 5 Key Points and 3 Main Roads projects in 2024.",
        "We walked 3 miles down the road to Station Square.",
        "Chapter 12 discusses the Highway Code and the Road Traffic Act 1988.",
        "Chapter 5 covers Windows 10, and Route 66 is closed in Table 3.",
        "On 12 March 2024 the committee met at 10 AM in Room 4.",
        "The council approved 12 new Housing Association grants and 3 Park Rangers posts in 2023.",
        "The ratio was 3.5 in Station 2/3 and Route 9.",
        "La lesión se aprecia en la resonancia.\nImagen 1\nEl cultivo fue negativo.",
        "See the chart below.\nFigure 2\nThe figures are provisional.",
    ],
)
def test_numbers_and_capitalised_words_that_are_no_address(text: str) -> None:
    assert addresses(text) == []


def test_a_date_after_a_town_named_like_a_street_is_a_date(engine: PiiEngine) -> None:
    text = "Marta se mudó a Ronda el 06/09/2002 y vive en la Plaza Mayor."
    assert addresses(text, "es") == []
    assert ("DATE", "06/09/2002") in {(e.label, e.value(text)) for e in engine.detect(text, "es")}


def test_an_address_does_not_swallow_a_phone_number_or_a_name(engine: PiiEngine) -> None:
    text = "Einar Björnsson, Borgartúni 21, 105 Reykjavík, sími 555 0199."
    found = {(e.label, e.value(text)) for e in engine.detect(text, "is")}
    assert ("ADDRESS", "Borgartúni 21, 105 Reykjavík") in found
    assert ("PHONE", "555 0199") in found
    assert ("PERSON", "Einar Björnsson") in found
    spanish = "Andrés Molina, 29001 Málaga, solicita el certificado."
    found = {(e.label, e.value(spanish)) for e in engine.detect(spanish, "es")}
    assert ("PERSON", "Andrés Molina") in found and ("ADDRESS", "29001 Málaga") in found


def test_an_address_ends_before_a_label() -> None:
    text = "Hospital del Sur, C/ Irunlarrea, 4 E-31008 Pamplona E-mail: ana@example.es"
    assert addresses(text, "es") == ["C/ Irunlarrea, 4 E-31008 Pamplona"]


def test_a_phone_number_is_no_street_number() -> None:
    text = "Call 555 0199 or write to us; the desk at 12 High St, Leeds LS6 2AB, tel 0113 496 0000."
    found = [(e.label, e.value(text)) for e in resolve(PatternDetector().detect(text, "en"))]
    assert found == [("PHONE", "555 0199"), ("ADDRESS", "12 High St, Leeds LS6 2AB"), ("PHONE", "0113 496 0000")]

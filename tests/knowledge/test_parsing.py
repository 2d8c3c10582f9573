"""Parsing uploads into structured documents: every format built here, at run time, from scratch."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from datetime import datetime

import docx
import pytest
from pypdf import PdfWriter

from soberana.knowledge.chunking import chunk_document
from soberana.knowledge.parsing import (
    SUPPORTED_EXTENSIONS,
    Block,
    DocumentParseError,
    ParsedDocument,
    UnsupportedFormat,
    detect_format,
    parse,
)

# --- Fixtures built at run time -------------------------------------------------------------------


def _pdf_string(text: str) -> bytes:
    escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    return b"(" + escaped.encode("cp1252") + b")"


def make_pdf(pages: list[list[str]], info: dict[str, str] | None = None) -> bytes:
    """A valid PDF showing one line of Helvetica (WinAnsi) per string of ``pages``, with an Info dictionary."""
    page_ids = [4 + 2 * i for i in range(len(pages))]
    objects = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(b"%d 0 R" % i for i in page_ids), len(pages)),
        3: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    }
    for page_id, lines in zip(page_ids, pages, strict=True):
        shown = b" ".join(_pdf_string(line) + b" Tj T*" for line in lines)
        content = b"BT /F1 11 Tf 14 TL 72 760 Td " + shown + b" ET"
        objects[page_id] = (
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792]"
            b" /Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % (page_id + 1)
        )
        objects[page_id + 1] = b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content)
    info_id = 4 + 2 * len(pages)
    objects[info_id] = b"<< %s >>" % b" ".join(
        b"/%s %s" % (k.encode(), _pdf_string(v)) for k, v in (info or {}).items()
    )
    out = bytearray(b"%PDF-1.4\n")
    offsets = {}
    for number in sorted(objects):
        offsets[number] = len(out)
        out += b"%d 0 obj\n%s\nendobj\n" % (number, objects[number])
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (info_id + 1)
    out += b"".join(b"%010d 00000 n \n" % offsets[number] for number in range(1, info_id + 1))
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (info_id + 1, info_id, xref)
    return bytes(out)


REPORT_PAGES = [
    [
        "1. Introducción",
        "La administración publica este informe cada año para medir el progreso de los",
        "servicios digitales. Los resultados se basan en encuestas a la ciudadanía y en",
        "datos de uso de los portales.",
        "1.1 Alcance",
        "El informe cubre los servicios de la administración general del Estado.",
    ],
    [
        "2. Resultados",
        "El noventa por ciento de los trámites ya se puede hacer en línea, y la satisfac-",
        "ción de los usuarios ha crecido en el último año.",
    ],
]


def make_docx() -> bytes:
    document = docx.Document()
    core = document.core_properties
    core.title = "Plan de Acción Digital"
    core.language = "es-ES"
    core.created = datetime(2024, 2, 1, 9, 30)
    core.modified = datetime(2024, 6, 15, 18, 0)
    document.add_heading("Plan de Acción", 0)
    document.add_heading("Objetivos", 1)
    document.add_paragraph("Este plan fija los objetivos para 2025.")
    document.add_paragraph("Servicios en línea", style="List Bullet")
    document.add_paragraph("")  # an empty paragraph inside a list does not split it
    document.add_paragraph("Sede electrónica", style="List Bullet 2")
    document.add_paragraph("Identidad digital", style="List Bullet")
    document.add_heading("Presupuesto", 2)
    table = document.add_table(rows=3, cols=3)
    rows = [["Partida", "2024", "2025"], ["Nube", "1,2 M€", "1,5 M€"], ["Formación", "0,3 M€", "0,4 M€"]]
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    document.add_paragraph("Primero", style="List Number")
    document.add_paragraph("Segundo", style="List Number")
    document.add_paragraph("Cierre   del\tdocumento.")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


PAGE_HTML = """<!DOCTYPE html>
<html lang="es-ES">
<head>
<meta charset="windows-1252">
<title>Ayudas al alquiler | Gobierno</title>
<link rel="canonical" href="https://www.example.gob.es/ayudas/alquiler">
<meta property="og:url" content="https://other.example/og">
<meta property="article:published_time" content="2024-03-05T10:00:00+01:00">
<meta name="dcterms.modified" content="2024-04-01">
<meta name="description" content="Cómo pedir la ayuda">
<script>var tracking = "SCRIPT TEXT";</script>
<style>body { color: red }</style>
</head>
<body>
<header class="site"><a href="/">Portada del portal</a></header>
<nav><ul><li>Menú principal</li><li>Contacto</li></ul></nav>
<main>
<form role="search"><input name="q"> Buscar en el sitio</form>
<article>
<header><h1>Ayudas al alquiler</h1></header>
<p>La ayuda cubre hasta el <strong>40 %</strong> del alquiler.   Se pide en la sede electrónica.</p>
<div>Texto suelto <a href="#">con enlace</a>.<p>Párrafo anidado.</p>Cola del div.</div>
<h2>Requisitos</h2>
<ul>
<li>Tener menos de 35 años
  <ul><li>o ser familia numerosa</li></ul>
</li>
<li>Ingresos bajos</li>
</ul>
<ol><li>Pedir cita</li><li>Presentar la solicitud</li></ol>
<table><caption>Cuantías</caption>
<thead><tr><th>Tramo</th><th>Ayuda</th></tr></thead>
<tbody><tr><td>Hasta 600 €</td><td>240 €</td></tr><tr><td>Más de 600 €</td><td>200 €</td></tr></tbody>
</table>
<pre>
tramo = calcular(renta)
    return tramo
</pre>
<aside>Noticias relacionadas</aside>
</article>
</main>
<footer>Aviso legal</footer>
</body>
</html>
"""

GUIDE_MARKDOWN = """---
title: "Guía de la sede electrónica"
url: https://sede.example.gob.es/guia
lang: es
published: 2023-11-02
updated: 2024-01-15
author: Equipo de Sede
tags:
  - sede
---

# Acceso

Se accede con **certificado** o con [Cl@ve](https://clave.example).

## Pasos

1. Abrir la sede
2. Elegir el trámite
   - Buscar por nombre
3. Firmar

| Método | Nivel |
|--------|-------|
| Cl@ve PIN | Básico |
| Certificado | Alto |

```python
print("hola")
```
"""


def _kinds(document: ParsedDocument) -> list[str]:
    return [block.kind for block in document.blocks]


def docx_with_body(body: bytes) -> bytes:
    """:func:`make_docx` with ``body`` as its ``word/document.xml``."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(make_docx())) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for entry in source.infolist():
            archive.writestr(entry.filename, body if entry.filename == "word/document.xml" else source.read(entry))
    return out.getvalue()


def _only(documents: list[ParsedDocument]) -> ParsedDocument:
    assert len(documents) == 1
    return documents[0]


# --- Format detection -----------------------------------------------------------------------------


def test_extension_decides_first_then_content_type_then_magic_bytes() -> None:
    assert detect_format("Informe.PDF") == "pdf"
    assert detect_format("notes.markdown", "text/html") == "markdown"
    assert detect_format("upload", "text/html; charset=utf-8") == "html"
    assert detect_format("upload", "application/octet-stream", b"%PDF-1.7\n...") == "pdf"
    assert detect_format("upload", None, make_docx()) == "docx"
    assert detect_format("upload", None, b"<!DOCTYPE html><HTML lang=en>") == "html"
    assert set(SUPPORTED_EXTENSIONS) == {".pdf", ".docx", ".html", ".htm", ".md", ".markdown", ".txt", ".jsonl"}


def test_an_unknown_format_is_refused_with_the_supported_extensions() -> None:
    with pytest.raises(UnsupportedFormat) as caught:
        parse(b"col1,col2\n1,2\n", "data.csv", "text/csv")
    assert caught.value.code == "unsupported_format"
    assert caught.value.status_code == 400
    assert "'data.csv'" in caught.value.message and ".pdf" in caught.value.message and ".jsonl" in caught.value.message
    with pytest.raises(UnsupportedFormat):
        detect_format("archive.zip", None, b"PK\x03\x04 not a word document")


# --- PDF ------------------------------------------------------------------------------------------


def test_pdf_pages_headings_title_and_dates() -> None:
    info = {"Title": "Informe anual 2024", "CreationDate": "D:20240131120000+01'00'", "ModDate": "D:20240305"}
    document = _only(parse(make_pdf(REPORT_PAGES, info), "informe.pdf"))
    assert document.key == "informe.pdf"
    assert document.title == "Informe anual 2024"
    assert (document.published, document.modified, document.page_count) == ("2024-01-31", "2024-03-05", 2)
    assert document.language is None  # nothing declared: detection happens elsewhere
    assert [(b.kind, b.level, b.page) for b in document.blocks] == [
        ("heading", 1, 1),
        ("paragraph", 0, 1),
        ("heading", 2, 1),
        ("paragraph", 0, 1),
        ("heading", 1, 2),
        ("paragraph", 0, 2),
    ]
    assert document.blocks[1].text.startswith("La administración publica este informe cada año para medir el progreso")
    assert document.blocks[1].text.endswith("y en datos de uso de los portales.")
    assert "la satisfacción de los usuarios" in document.blocks[5].text  # hyphenation across lines undone
    paths = [(chunk.heading_path, chunk.page) for chunk in chunk_document(document)]
    assert paths == [
        (("1. Introducción",), 1),
        (("1. Introducción", "1.1 Alcance"), 1),
        (("2. Resultados",), 2),
    ]


def test_pdf_without_a_title_takes_its_first_heading_and_ignores_tool_titles() -> None:
    document = _only(parse(make_pdf(REPORT_PAGES, {"Title": "Microsoft Word - informe.docx"}), "a.pdf"))
    assert document.title == "1. Introducción"
    assert document.published is None


@pytest.mark.parametrize(
    "data", [b"%PDF-1.7\nthis is not really a PDF", b"", make_pdf(REPORT_PAGES)[:300]], ids=["garbage", "empty", "cut"]
)
def test_a_damaged_pdf_is_refused_naming_the_file(data: bytes) -> None:
    with pytest.raises(DocumentParseError) as caught:
        parse(data, "roto.pdf")
    assert "roto.pdf" in caught.value.message
    assert caught.value.code == "document_unreadable"


def test_an_encrypted_pdf_is_refused_but_an_owner_password_alone_is_not() -> None:
    def encrypted(user_password: str) -> bytes:
        writer = PdfWriter(clone_from=io.BytesIO(make_pdf(REPORT_PAGES)))
        writer.encrypt(user_password, owner_password="owner-secret", algorithm="RC4-128")
        out = io.BytesIO()
        writer.write(out)
        return out.getvalue()

    with pytest.raises(DocumentParseError, match=r"secreto\.pdf is encrypted"):
        parse(encrypted("user-secret"), "secreto.pdf")
    assert "Introducción" in _only(parse(encrypted(""), "protegido.pdf")).text


def test_a_pdf_without_text_says_so() -> None:
    with pytest.raises(DocumentParseError, match=r"escaneado\.pdf contains no text"):
        parse(make_pdf([[], []]), "escaneado.pdf")


# --- DOCX -----------------------------------------------------------------------------------------


def test_docx_structure_in_document_order() -> None:
    document = _only(parse(make_docx(), "plan.docx"))
    assert document.title == "Plan de Acción Digital"  # core properties first
    assert (document.language, document.published, document.modified) == ("es", "2024-02-01", "2024-06-15")
    assert document.blocks == [
        Block("heading", "Plan de Acción", 1),
        Block("heading", "Objetivos", 1),
        Block("paragraph", "Este plan fija los objetivos para 2025."),
        Block("list", "- Servicios en línea\n  - Sede electrónica\n- Identidad digital"),
        Block("heading", "Presupuesto", 2),
        Block("table", "Partida | 2024 | 2025\nNube | 1,2 M€ | 1,5 M€\nFormación | 0,3 M€ | 0,4 M€"),
        Block("list", "1. Primero\n2. Segundo"),
        Block("paragraph", "Cierre del documento."),
    ]
    assert document.metadata.get("author") == "python-docx"  # the template's core properties


def test_docx_title_falls_back_to_the_title_paragraph() -> None:
    document = docx.Document()
    document.core_properties.title = ""
    document.add_heading("Resumen", 1)
    document.add_heading("Memoria anual", 0)
    document.add_paragraph("Texto.")
    out = io.BytesIO()
    document.save(out)
    assert _only(parse(out.getvalue(), "memoria.docx")).title == "Memoria anual"


def test_docx_paragraphs_with_direct_numbering_are_list_items() -> None:
    from docx.oxml import parse_xml
    from docx.oxml.ns import nsdecls

    document = docx.Document()
    document.add_paragraph("Condiciones:")
    for level, text in [(0, "Residir en el municipio"), (1, "al menos dos años"), (0, "Estar al corriente")]:
        paragraph = document.add_paragraph(text)  # "Normal" style: only the numbering makes it an item
        numbering = f'<w:numPr {nsdecls("w")}><w:ilvl w:val="{level}"/><w:numId w:val="1"/></w:numPr>'
        paragraph._p.get_or_add_pPr().append(parse_xml(numbering))
    out = io.BytesIO()
    document.save(out)
    blocks = _only(parse(out.getvalue(), "bases.docx")).blocks
    assert blocks[1] == Block("list", "- Residir en el municipio\n  - al menos dos años\n- Estar al corriente")


def test_a_damaged_docx_is_refused_naming_the_file() -> None:
    not_word = io.BytesIO()
    with zipfile.ZipFile(not_word, "w") as archive:
        archive.writestr("hello.txt", "a zip, but not a Word document")
    for data in (b"PK\x03\x04 broken zip", not_word.getvalue(), make_docx()[:2000]):
        with pytest.raises(DocumentParseError) as caught:
            parse(data, "contrato.docx")
        assert "contrato.docx" in caught.value.message


def test_a_docx_that_inflates_past_64_mib_is_refused_before_it_is_read() -> None:
    # A zip bomb: 65 MiB of XML in a few hundred kilobytes. python-docx would hold it all, and lxml's
    # tree of it several times over; the declared sizes are checked first (and zipfile never inflates
    # an entry past its declared size, so they cannot lie).
    bomb = docx_with_body(b"<w:document>" + b" " * (65 << 20) + b"</w:document>")
    assert len(bomb) < 1 << 20
    with pytest.raises(DocumentParseError) as caught:
        parse(bomb, "informe.docx")
    assert caught.value.message == "informe.docx unzips to more than 64 MiB; it is refused."
    with zipfile.ZipFile(io.BytesIO(make_docx())) as source:
        original = source.read("word/document.xml")
    assert _only(parse(docx_with_body(original), "bien.docx")).title == "Plan de Acción Digital"  # same shape


# --- HTML -----------------------------------------------------------------------------------------


def test_html_content_metadata_and_furniture_dropped() -> None:
    document = _only(parse(PAGE_HTML.encode("cp1252"), "ayudas.html", "text/html"))
    assert document.title == "Ayudas al alquiler | Gobierno"
    assert document.language == "es"
    assert document.source_url == "https://www.example.gob.es/ayudas/alquiler"  # canonical before og:url
    assert (document.published, document.modified) == ("2024-03-05", "2024-04-01")
    assert document.metadata == {"description": "Cómo pedir la ayuda"}
    assert document.blocks == [
        Block("heading", "Ayudas al alquiler", 1),  # the article's own header is kept
        Block("paragraph", "La ayuda cubre hasta el 40 % del alquiler. Se pide en la sede electrónica."),
        Block("paragraph", "Texto suelto con enlace."),
        Block("paragraph", "Párrafo anidado."),
        Block("paragraph", "Cola del div."),
        Block("heading", "Requisitos", 2),
        Block("list", "- Tener menos de 35 años\n  - o ser familia numerosa\n- Ingresos bajos"),
        Block("list", "1. Pedir cita\n2. Presentar la solicitud"),
        Block("paragraph", "Cuantías"),
        Block("table", "Tramo | Ayuda\nHasta 600 € | 240 €\nMás de 600 € | 200 €"),
        Block("code", "tramo = calcular(renta)\n    return tramo"),
    ]
    for furniture in ("Menú", "Portada", "Buscar", "Noticias", "Aviso legal", "SCRIPT", "color"):
        assert furniture not in document.text


def test_html_without_main_uses_the_body_and_keeps_a_page_wide_form() -> None:
    page = (
        "<html><head><meta property='og:url' content='https://example.is/frett'></head><body>"
        "<nav>Valmynd</nav><form id='aspnetForm'><h1>Fréttir</h1><p>Ný þjónusta opnar.</p>"
        "<table><tr><td><table><tr><td><p>Inni í útlitstöflu.</p></td></tr></table></td></tr></table>"
        "</form></body></html>"
    )
    document = _only(parse(page.encode(), "frett.htm"))
    assert document.title == "Fréttir"  # no <title>: the first h1
    assert document.source_url == "https://example.is/frett"
    assert document.language is None
    assert [block.text for block in document.blocks] == ["Fréttir", "Ný þjónusta opnar.", "Inni í útlitstöflu."]


def test_html_relative_or_scripted_addresses_are_not_source_urls() -> None:
    page = "<html><head><link rel='canonical' href='/relative'></head><body><p>x</p></body></html>"
    assert _only(parse(page.encode(), "a.html")).source_url is None
    page = "<html><head><meta property='og:url' content='javascript:alert(1)'></head><body><p>x</p></body></html>"
    assert _only(parse(page.encode(), "a.html")).source_url is None


# --- Markdown -------------------------------------------------------------------------------------


def test_markdown_front_matter_and_structure() -> None:
    document = _only(parse(GUIDE_MARKDOWN.encode(), "guia.md"))
    assert document.title == "Guía de la sede electrónica"
    assert document.source_url == "https://sede.example.gob.es/guia"
    assert (document.language, document.published, document.modified) == ("es", "2023-11-02", "2024-01-15")
    assert document.metadata == {"author": "Equipo de Sede"}  # list values are skipped
    assert document.blocks == [
        Block("heading", "Acceso", 1),
        Block("paragraph", "Se accede con certificado o con Cl@ve."),
        Block("heading", "Pasos", 2),
        Block("list", "1. Abrir la sede\n2. Elegir el trámite\n  - Buscar por nombre\n3. Firmar"),
        Block("table", "Método | Nivel\nCl@ve PIN | Básico\nCertificado | Alto"),
        Block("code", 'print("hola")'),
    ]


def test_markdown_without_front_matter_takes_the_first_h1() -> None:
    document = _only(parse(b"---\n\nIntro.\n\n## Sub\n\n# Main title\n\nBody.", "x.markdown"))
    assert document.title == "Main title"
    assert document.blocks[0] == Block("paragraph", "Intro.")


# --- Plain text -----------------------------------------------------------------------------------


def test_plain_text_paragraphs_title_lists_and_clean_up() -> None:
    text = (
        "Bando municipal\n\n"
        "Se informa a los vecinos\nde que el agua se cortará\u00a0el lunes.\n\n"
        "* Calle Mayor\n• Plaza\x00 del Sol\n\n"
        "Cafe\u0301 cerrado.\x07\r\n"
    )
    document = _only(parse(text.encode(), "bando.txt"))
    assert document.title == "Bando municipal"
    assert document.blocks == [
        Block("heading", "Bando municipal", level=2),
        Block("paragraph", "Se informa a los vecinos de que el agua se cortará el lunes."),
        Block("list", "- Calle Mayor\n- Plaza del Sol"),
        Block("paragraph", "Café cerrado."),  # NFC: one code point
    ]
    assert document.blocks[-1].text == "Caf\u00e9 cerrado."


def test_legacy_encoded_text_keeps_its_accents() -> None:
    document = _only(parse("Þjónusta við íbúa og gesti.".encode("cp1252"), "a.txt"))
    assert document.text == "Þjónusta við íbúa og gesti."
    assert _only(parse("\ufeffcon BOM".encode("utf-16"), "b.txt")).text == "con BOM"


@pytest.mark.parametrize("filename", ["vacio.txt", "vacio.md", "vacio.html", "vacio.jsonl"])
def test_an_empty_document_is_refused(filename: str) -> None:
    with pytest.raises(DocumentParseError, match=rf"{filename.replace('.', '[.]')} contains no text"):
        parse(b" \n\n\t\x00\n", filename)


# --- JSON Lines -----------------------------------------------------------------------------------


def test_json_lines_one_document_per_record() -> None:
    records = [
        {"id": "faq-1", "title": "Horario", "text": "Abrimos de 9 a 14.\n\nCerramos festivos.", "lang": "es"},
        {"content": "Line one\nLine two", "url": "https://example.org/2", "updated": "2024-05-06T08:00:00Z"},
        {"doc_id": 7, "body": "Þriðja færslan.", "language": "is-IS", "category": "faq", "rank": 3, "x": None},
    ]
    data = "\n".join(json.dumps(record, ensure_ascii=False) for record in records[:2]) + "\n\n"
    data += json.dumps(records[2], ensure_ascii=False) + "\n"
    first, second, third = parse(data.encode(), "faq.jsonl")
    assert (first.key, first.title, first.language) == ("faq.jsonl#faq-1", "Horario", "es")
    assert [block.text for block in first.blocks] == ["Abrimos de 9 a 14.", "Cerramos festivos."]
    assert (second.key, second.title, second.source_url) == ("faq.jsonl#2", None, "https://example.org/2")
    assert second.modified == "2024-05-06"
    assert [block.text for block in second.blocks] == ["Line one", "Line two"]
    assert (third.key, third.language, third.metadata) == ("faq.jsonl#7", "is", {"category": "faq", "rank": "3"})


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("{not json", "is not valid JSON"),
        ('["a list"]', "is not a JSON object"),
        ('{"title": "no text"}', "has no text"),
        ('{"id": "a", "text": "again"}', "repeats the id"),
    ],
)
def test_a_bad_json_line_fails_the_file_naming_the_line(line: str, problem: str) -> None:
    data = '{"id": "a", "text": "fine"}\n' + line + "\n"
    with pytest.raises(DocumentParseError) as caught:
        parse(data.encode(), "datos.jsonl")
    assert "datos.jsonl line 2" in caught.value.message and problem in caught.value.message


# --- Import cost ----------------------------------------------------------------------------------


def test_importing_the_modules_loads_no_parsing_library() -> None:
    code = (
        "import sys, soberana.knowledge.parsing, soberana.knowledge.chunking\n"
        "print(sorted(m for m in ('pypdf', 'docx', 'selectolax', 'markdown_it', 'lxml') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "[]"


def test_plain_text_exported_one_element_per_line_keeps_its_headings() -> None:
    text = (
        "When you're an agency worker\n"
        "You're an agency worker if you have a contract with an agency.\n"
        "Fees\n"
        "Recruitment agencies cannot charge you a fee for finding you work.\n"
        "must give you full written details of the fee\n"
        "There are different rules for modelling agencies."
    )
    record = json.dumps({"id": "agency", "title": "Your rights as an agency worker", "text": text})
    document = _only(parse(record.encode(), "guides.jsonl"))
    assert [(b.kind, b.text) for b in document.blocks if b.kind == "heading"] == [
        ("heading", "When you're an agency worker"),
        ("heading", "Fees"),
    ]  # a lower-case line without a full stop is a list item cut loose, not a heading
    chunks = chunk_document(document)
    assert [c.heading_path for c in chunks] == [("When you're an agency worker",), ("Fees",)]

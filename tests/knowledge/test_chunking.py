"""Chunking follows the document structure and keeps every chunk within the size limits."""

from __future__ import annotations

import random

import pytest

from soberana.knowledge.chunking import Chunk, chunk_document
from soberana.knowledge.parsing import Block, BlockKind, ParsedDocument

VOCABULARY = (
    "la",
    "ayuda",
    "se",
    "pide",
    "en",
    "la",
    "sede",
    "con",
    "certificado",
    "y",
    "el",
    "plazo",
    "acaba",
    "marzo",
)


def words(count: int, seed: int = 0) -> str:
    """``count`` words ending in a period: one sentence."""
    rng = random.Random(seed)
    return " ".join([*(rng.choice(VOCABULARY) for _ in range(count - 1)), "fin."])


def sentences(*lengths: int) -> str:
    return " ".join(words(length, seed).capitalize() for seed, length in enumerate(lengths))


def doc(*blocks: Block) -> ParsedDocument:
    return ParsedDocument(key="test", title="Título", blocks=list(blocks))


def heading(text: str, level: int) -> Block:
    return Block("heading", text, level)


def block(kind: BlockKind, text: str, page: int | None = None) -> Block:
    return Block(kind, text, page=page)


def table(rows: int, cells_words: int = 3) -> str:
    header = "Tramo | Cuantía | Plazo"
    body = [" | ".join(f"{words(cells_words, r * 3 + c)[:-1]}{r}" for c in range(3)) for r in range(rows)]
    return "\n".join([header, *body])


def check_invariants(chunks: list[Chunk], max_words: int) -> None:
    assert [chunk.ordinal for chunk in chunks] == list(range(len(chunks)))
    for chunk in chunks:
        assert chunk.words == len(chunk.text.split()) <= max_words
        assert chunk.text.strip() and chunk.text.strip("\n") == chunk.text


def test_headings_make_sections_that_never_mix() -> None:
    document = doc(
        heading("Guía", 1),
        heading("Requisitos", 2),
        block("paragraph", "Tener menos de 35 años."),
        heading("Plazos", 2),
        heading("Solicitud", 3),
        block("paragraph", "Hasta el 31 de marzo."),
        heading("Otras ayudas", 1),
        block("paragraph", "Bono transporte."),
    )
    chunks = chunk_document(document)
    assert [(chunk.heading_path, chunk.text) for chunk in chunks] == [
        (("Guía", "Requisitos"), "Tener menos de 35 años."),
        (("Guía", "Plazos", "Solicitud"), "Hasta el 31 de marzo."),  # "Plazos" has no body: no chunk of its own
        (("Otras ayudas",), "Bono transporte."),
    ]
    check_invariants(chunks, 280)


def test_text_before_any_heading_has_an_empty_path_and_the_title_is_not_added() -> None:
    [chunk] = chunk_document(doc(block("paragraph", "Preámbulo.")))
    assert chunk.heading_path == ()


def test_blocks_gather_up_to_the_target_then_start_a_new_chunk() -> None:
    paragraphs = [block("paragraph", words(60, seed)) for seed in range(5)]
    chunks = chunk_document(doc(heading("A", 1), *paragraphs), target_words=160, max_words=280)
    assert [chunk.words for chunk in chunks] == [120, 120, 60]
    assert chunks[0].text == f"{paragraphs[0].text}\n\n{paragraphs[1].text}"
    check_invariants(chunks, 280)


def test_a_long_paragraph_is_split_between_sentences() -> None:
    text = sentences(*([40] * 12)) + " El Dr. Pérez y la Sra. García firmaron el 3 de marzo. Fin del acta."
    chunks = chunk_document(doc(block("paragraph", text)), target_words=100, max_words=150)
    assert len(chunks) > 1
    check_invariants(chunks, 150)
    assert " ".join(chunk.text for chunk in chunks) == text  # cut only between sentences, nothing lost
    assert all(chunk.text.endswith(".") for chunk in chunks)
    assert not any(chunk.text.endswith(("Dr.", "Sra.")) for chunk in chunks)


def test_a_sentence_longer_than_the_limit_is_cut_between_words() -> None:
    chunks = chunk_document(doc(block("paragraph", words(700))), target_words=160, max_words=280)
    check_invariants(chunks, 280)
    assert sum(chunk.words for chunk in chunks) == 700


def test_a_table_that_fits_stays_whole_even_past_the_target() -> None:
    rows = table(20)  # 3 + 20 × 9 = 183 words: over the target, within the limit
    document = doc(block("paragraph", words(100)), block("table", rows), block("paragraph", words(40)))
    chunks = chunk_document(document, target_words=160, max_words=280)
    assert [chunk.text for chunk in chunks if "Tramo | Cuantía" in chunk.text] == [rows]
    check_invariants(chunks, 280)


def test_a_long_table_is_split_between_rows_repeating_the_header() -> None:
    rows = table(60).split("\n")
    chunks = chunk_document(
        doc(heading("Cuantías", 2), block("table", "\n".join(rows))), target_words=80, max_words=120
    )
    assert len(chunks) > 1
    check_invariants(chunks, 120)
    for chunk in chunks:
        assert chunk.text.split("\n")[0] == rows[0]
        assert chunk.heading_path == ("Cuantías",)
    assert [line for chunk in chunks for line in chunk.text.split("\n")[1:]] == rows[1:]


def test_a_list_that_fits_stays_whole_and_a_long_one_splits_between_items() -> None:
    items = [f"- {words(12, i)}" + (f"\n  - {words(5, 100 + i)}" if i % 3 == 0 else "") for i in range(30)]
    short = "\n".join(items[:15])  # about 230 words
    [whole] = chunk_document(doc(block("list", short)))
    assert whole.text == short
    chunks = chunk_document(doc(block("list", "\n".join(items))), target_words=100, max_words=150)
    check_invariants(chunks, 150)
    assert "\n".join(chunk.text for chunk in chunks) == "\n".join(items)  # split only between items
    assert all(chunk.text.startswith("- ") for chunk in chunks)  # a nested item stays with its parent


def test_long_code_is_split_between_lines() -> None:
    lines = [f"    valor_{i} = calcular(renta, tramo_{i}, año)" for i in range(120)]
    chunks = chunk_document(doc(block("code", "\n".join(lines))), target_words=100, max_words=150)
    check_invariants(chunks, 150)
    assert [line for chunk in chunks for line in chunk.text.split("\n")] == lines


def test_tiny_pieces_join_a_neighbour_of_their_section() -> None:
    trailing = doc(block("paragraph", words(150)), block("paragraph", words(15, 1)))
    [chunk] = chunk_document(trailing, target_words=140, max_words=280)
    assert chunk.words == 165
    intro = doc(block("paragraph", "La tabla siguiente resume las cuantías:"), block("table", table(20)))
    [chunk] = chunk_document(intro)  # the short introduction stays with its table
    assert chunk.text.startswith("La tabla siguiente")
    across = doc(heading("A", 1), block("paragraph", words(150)), heading("B", 1), block("paragraph", words(5)))
    assert [chunk.words for chunk in chunk_document(across)] == [150, 5]  # never across a heading


def test_a_chunk_takes_the_page_of_its_first_block() -> None:
    document = doc(
        block("paragraph", words(100), page=1),
        block("paragraph", words(50), page=2),
        block("paragraph", words(100), page=3),
    )
    assert [chunk.page for chunk in chunk_document(document)] == [1, 3]


def test_chunking_is_deterministic_and_bounded_on_varied_documents() -> None:
    rng = random.Random(7)
    kinds: list[BlockKind] = ["paragraph", "list", "table", "code"]
    blocks: list[Block] = []
    for i in range(200):
        if rng.random() < 0.15:
            blocks.append(heading(f"Sección {i}", rng.randint(1, 4)))
            continue
        kind = rng.choice(kinds)
        size = rng.choice([3, 20, 90, 300, 900])
        if kind == "paragraph":
            text = sentences(*[rng.randint(1, 60) for _ in range(max(1, size // 25))])
        elif kind == "table":
            text = table(max(1, size // 9))
        else:
            text = "\n".join(f"- {words(rng.randint(1, 30), j)}" for j in range(max(1, size // 15)))
        blocks.append(Block(kind, text, page=i // 10 + 1))
    document = doc(*blocks)
    for target, limit in [(160, 280), (40, 60), (100, 100)]:
        chunks = chunk_document(document, target_words=target, max_words=limit)
        assert chunks == chunk_document(document, target_words=target, max_words=limit)
        check_invariants(chunks, limit)


@pytest.mark.parametrize(("target", "limit"), [(0, 10), (200, 100), (-1, -1)])
def test_nonsensical_sizes_are_refused(target: int, limit: int) -> None:
    with pytest.raises(ValueError, match="target_words"):
        chunk_document(doc(block("paragraph", "x")), target_words=target, max_words=limit)

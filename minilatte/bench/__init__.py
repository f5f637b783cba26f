"""``python -m minilatte bench``: speed of minilatte against diffusers' Latte at the same math, and why.

What one run measures (all on the same machine, in the same process):

* **minilatte vs diffusers** ``LatteTransformer3DModel`` at a matched size: forward and
  forward+backward, timed *interleaved* (A, B, A, B, ...) so that background load hits both alike;
  the speedup is the median of the per-pair ratios, with their min and max as the spread.
* **FLOPs**, analytic (:mod:`minilatte.flops`) and counted by ``FlopCounterMode`` for both models
  (attention through SDPA's math backend: the counter cannot see inside the fused CPU kernel).
* **Achieved FLOP/s** of a step as a fraction of a plain fp32 matmul measured in the same run (the
  CPU's "MFU"), and the resulting **ceiling**: the speedup minilatte would get if every FLOP ran at
  plain-matmul speed. On GPUs, MFU against the card's nominal dense peak.
* **Where the time goes** (``torch.profiler``): matmul, attention, copies, other element-wise work.
* **Ablation**, one feature at a time, of what can be measured here (attention kernel, fused qkv,
  activation checkpointing, bf16 autocast, torch.compile, data loading); GPU-only rows point to
  ``benchmarks/gpu_ablation.py``.
* **Activation memory** saved for backward (exact, by ``saved_tensors_hooks``) and, on CUDA, peak memory.

How the diffusers model is matched (see :func:`build_diffusers`): ``num_layers = depth / 2`` pairs of
spatial + temporal blocks, ``attention_head_dim = width / heads``, ``norm_type="ada_norm_single"``
(S-AdaLN without affine LayerNorm, eps 1e-6), tanh-GELU MLP ×4, biased attention projections,
learned-σ output (2C channels). ``cross_attention_dim=None`` removes its caption cross-attention, so
both models compute the same function class; its forward still needs a caption, so a dummy
(B, 1, 8) zero caption is passed (its projection costs ~1e-5 of the FLOPs). What remains different
is diffusers' shared modulation (one adaLN Linear for all blocks + a per-block table): fewer
parameters, the same per-token FLOPs.

The package, one module per job: :mod:`.timing` (the harness: interleaved timing, FLOP counting,
the plain-matmul yardstick, the profile split, the machine), :mod:`.diffusers_match` (the matched
sizes and models, and the comparison), :mod:`.ablation`, :mod:`.report` (the whole run as one dict,
and as markdown) and :mod:`.cli` (the ``bench`` subcommand, ``--memory`` included).
"""
from .ablation import GPU_ONLY, ablation
from .cli import add_arguments, main
from .diffusers_match import (CAPTION_CHANNELS, QUICK, STANDARD, BenchSize, _inputs, build_diffusers, build_minilatte,
                              compare_with_diffusers, forward_fns)
from .report import run_bench, to_markdown
# _inputs and _device_info too: benchmarks/*.py build on them.
from .timing import (GPU_PEAKS, _device_info, count_flops, cpu_has_fast_bf16, matmul_fn, no_grad_fn, speedup,
                     time_breakdown, time_interleaved, train_step_fn)

__all__ = [
    "BenchSize", "QUICK", "STANDARD", "CAPTION_CHANNELS", "GPU_PEAKS", "GPU_ONLY",
    "build_minilatte", "build_diffusers", "forward_fns", "compare_with_diffusers",
    "train_step_fn", "no_grad_fn", "time_interleaved", "speedup", "count_flops", "matmul_fn", "time_breakdown",
    "cpu_has_fast_bf16", "ablation", "run_bench", "to_markdown", "main", "add_arguments",
]

"""minilatte against diffusers' ``LatteTransformer3DModel`` at the same math: matched sizes and models,
and the comparison (times, speedups, FLOPs, FLOP/s, throughput, activation memory)."""
from __future__ import annotations

import copy
import statistics
from dataclasses import asdict, dataclass
from typing import Callable

import torch

from ..flops import forward_flops
from ..memory import measure_saved_bytes
from ..models import Latte, LatteConfig
from ..testing import randomize_
from ..train import update_ema
from .timing import (count_flops, matmul_fn, no_grad_fn, speedup, time_breakdown, time_interleaved,
                     train_step_fn, _gpu_peak)

CAPTION_CHANNELS = 8


@dataclass(frozen=True)
class BenchSize:
    """A matched size: width, depth (all blocks), heads, frames, latent side, patch, batch."""

    hidden_size: int
    depth: int
    num_heads: int
    num_frames: int
    input_size: int
    patch_size: int
    batch_size: int
    in_channels: int = 4

    def latte_config(self) -> LatteConfig:
        return LatteConfig(hidden_size=self.hidden_size, depth=self.depth, num_heads=self.num_heads,
                           num_frames=self.num_frames, input_size=self.input_size, patch_size=self.patch_size,
                           in_channels=self.in_channels)

    @property
    def tokens_per_video(self) -> int:
        return self.num_frames * (self.input_size // self.patch_size) ** 2


# --quick: runs in well under a minute on 2 loaded cores. Default: the size at which the official model and
# diffusers were matched (Latte-S/2 width).
QUICK = BenchSize(hidden_size=192, depth=4, num_heads=3, num_frames=8, input_size=16, patch_size=2, batch_size=2)
STANDARD = BenchSize(hidden_size=384, depth=12, num_heads=6, num_frames=8, input_size=16, patch_size=2, batch_size=2)


def build_minilatte(size: BenchSize, device: str = "cpu", seed: int = 0) -> Latte:
    """minilatte at ``size``, every parameter drawn N(0, 0.02) (a fresh adaLN-Zero model is all zeros)."""
    torch.manual_seed(seed)
    model = Latte(size.latte_config())
    randomize_(model, std=0.02)
    return model.to(device).train()


def build_diffusers(size: BenchSize, device: str = "cpu", seed: int = 0) -> torch.nn.Module:
    """diffusers' LatteTransformer3DModel matched to ``size`` (see the module docstring)."""
    try:   # an optional import: only the comparison needs diffusers
        from diffusers import LatteTransformer3DModel
    except ImportError as err:   # pragma: no cover - diffusers is a dependency
        raise RuntimeError("the diffusers comparison needs the diffusers package: pip install diffusers") from err
    if size.depth % 2:
        raise ValueError(f"depth={size.depth} must be even: diffusers pairs one spatial with one temporal block")
    torch.manual_seed(seed)
    model = LatteTransformer3DModel(
        num_attention_heads=size.num_heads, attention_head_dim=size.hidden_size // size.num_heads,
        in_channels=size.in_channels, out_channels=2 * size.in_channels, num_layers=size.depth // 2,
        cross_attention_dim=None, attention_bias=True, sample_size=size.input_size, patch_size=size.patch_size,
        activation_fn="gelu-approximate", norm_type="ada_norm_single", norm_elementwise_affine=False,
        norm_eps=1e-6, caption_channels=CAPTION_CHANNELS, video_length=size.num_frames)
    randomize_(model, std=0.02)
    return model.to(device).train()


def _inputs(size: BenchSize, device: str, seed: int = 0) -> dict:
    """x (B, F, C, H, W) for minilatte, the same as (B, C, F, H, W) contiguous for diffusers, t (B,), caption."""
    g = torch.Generator().manual_seed(seed)
    B = size.batch_size
    x = torch.randn(B, size.num_frames, size.in_channels, size.input_size, size.input_size, generator=g)
    return {"x": x.to(device), "x_cf": x.transpose(1, 2).contiguous().to(device),
            "t": torch.randint(0, 1000, (B,), generator=g).to(device),
            "caption": torch.zeros(B, 1, CAPTION_CHANNELS, device=device)}


def forward_fns(ml: torch.nn.Module, df: torch.nn.Module, inputs: dict) -> dict[str, Callable[[], torch.Tensor]]:
    """Zero-argument forwards returning (B, F, 2C, H, W) for both models."""
    return {"minilatte": lambda: ml(inputs["x"], inputs["t"]),
            "diffusers": lambda: df(inputs["x_cf"], inputs["t"], encoder_hidden_states=inputs["caption"],
                                    return_dict=False)[0].transpose(1, 2)}


def compare_with_diffusers(size: BenchSize, repeats: int = 5, device: str = "cpu", profile: bool = True) -> dict:
    """minilatte vs diffusers at ``size``: times, speedups, FLOPs, FLOP/s, throughput, activation memory."""
    ml, df = build_minilatte(size, device), build_diffusers(size, device)
    inputs = _inputs(size, device)
    fwd = forward_fns(ml, df, inputs)
    steps = {"minilatte": train_step_fn(ml, fwd["minilatte"]), "diffusers": train_step_fn(df, fwd["diffusers"])}
    no_grad = {name: no_grad_fn(f) for name, f in fwd.items()}

    cfg, B = size.latte_config(), size.batch_size
    tokens = B * size.tokens_per_video
    flops = {"minilatte_forward_analytic": forward_flops(cfg, B),
             "minilatte_forward_counted": count_flops(no_grad["minilatte"]),
             "diffusers_forward_counted": count_flops(no_grad["diffusers"]),
             "minilatte_train_step_counted": count_flops(steps["minilatte"]),
             "diffusers_train_step_counted": count_flops(steps["diffusers"])}

    # The plain matmul that the step is measured against: the MLP's fc1 shape (tokens, D) @ (D, 4D).
    matmul, matmul_flops = matmul_fn(tokens, size.hidden_size, 4 * size.hidden_size, device)
    forward_times = time_interleaved(no_grad, repeats, device)
    step_times = time_interleaved({**steps, "matmul": matmul}, repeats, device)
    matmul_rate = [matmul_flops / s for s in step_times.pop("matmul")]
    med = {f"{name}_{kind}": statistics.median(ts) for kind, times in (("forward", forward_times),
                                                                       ("train_step", step_times))
           for name, ts in times.items()}
    step_flops = {name: flops[f"{name}_train_step_counted"] for name in steps}
    # Per round: the step's FLOP/s over the matmul's FLOP/s measured right next to it.
    fraction = {name: statistics.median(step_flops[name] / s / r for s, r in zip(step_times[name], matmul_rate))
                for name in steps}
    achieved = step_flops["minilatte"] / med["minilatte_train_step"]
    result = {
        "size": asdict(size), "tokens_per_video": size.tokens_per_video,
        "params": {"minilatte": _count(ml), "diffusers": _count(df)},
        "flops": flops,
        "seconds": med,
        "seconds_all": {"forward": forward_times, "train_step": step_times},
        "forward_speedup_vs_diffusers": speedup(forward_times, "diffusers", "minilatte")["median"],
        "train_step_speedup_vs_diffusers": speedup(step_times, "diffusers", "minilatte")["median"],
        "forward_speedup_spread": speedup(forward_times, "diffusers", "minilatte"),
        "train_step_speedup_spread": speedup(step_times, "diffusers", "minilatte"),
        "matmul_tflops": statistics.median(matmul_rate) / 1e12,
        "train_step_tflops": {name: step_flops[name] / med[f"{name}_train_step"] / 1e12 for name in steps},
        "train_step_fraction_of_matmul": fraction,
        # If every FLOP of minilatte's step ran at plain-matmul speed: the most any rewrite of the same math gets.
        "train_step_speedup_ceiling_same_math": fraction["diffusers"] ** -1 * step_flops["diffusers"]
        / step_flops["minilatte"],
        "throughput": {
            "train_videos_per_s": B / med["minilatte_train_step"],
            "train_tokens_per_s": tokens / med["minilatte_train_step"],
            "forward_videos_per_s": B / med["minilatte_forward"],
            "sample_videos_per_s_250_steps": B / (250 * med["minilatte_forward"]),
            "sample_videos_per_s_250_steps_cfg": B / (250 * 2 * med["minilatte_forward"]),
        },
        "memory": {"activation_bytes_minilatte": measure_saved_bytes(fwd["minilatte"], exclude=(ml,)),
                   "activation_bytes_diffusers": measure_saved_bytes(fwd["diffusers"], exclude=(df,))},
    }
    peak = _gpu_peak("fp32")
    result["mfu_fp32"] = achieved / peak if peak else None
    if device.startswith("cuda") and torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
        steps["minilatte"]()
        result["memory"]["peak_bytes_minilatte_train_step"] = torch.cuda.max_memory_allocated()
    result["optimizer_seconds"] = _optimizer_seconds(ml, steps["minilatte"], repeats, device)
    if profile and device == "cpu":
        result["time_breakdown"] = {name: time_breakdown(fn) for name, fn in steps.items()}
    return result


def _count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _optimizer_seconds(model: torch.nn.Module, step: Callable[[], None], repeats: int, device: str) -> float:
    """Seconds of AdamW (foreach) + an EMA lerp, the rest of a minilatte training step."""
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    ema = copy.deepcopy(model).requires_grad_(False)
    step()

    def update() -> None:
        opt.step()
        update_ema(ema, model, 0.9999)
    return statistics.median(time_interleaved({"opt": update}, repeats, device)["opt"])

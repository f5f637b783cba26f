"""What a study costs before it runs: its distinct runs, their training and evaluation FLOPs, and for
the gpu tier an estimated time on one H100 (an estimate from the FLOP count, not a measurement).

``python -m minilatte ablate --study all --tier gpu --seeds 3 --plan`` prints it without training.
Runs that several studies share (every study's baseline is the tier's base config) count once.
"""
from __future__ import annotations

from pathlib import Path

from ..flops import forward_flops
from .runs import arm_config, curve_steps, flops, image_pretraining_config
from .studies import STUDIES, TIERS, base_config, study_arms

H100_BF16_PEAK = 989e12          # dense bf16 FLOP/s of an H100 SXM
MFU_RANGE = (0.2, 0.4)           # the fraction of peak a small model's step reaches (assumed, as for the configs)


def evaluation_flops(cfg, tier: str, num_samples: int | None = None) -> int:
    """FLOPs of one evaluation's sampling (the model's forward per clip and step; guidance doubles it).
    The feature extractors (probe, I3D) are not counted."""
    t = TIERS[tier]
    steps = t.sampling_steps or cfg.diffusion.sampling_steps
    guided = 2 if cfg.diffusion.cfg_scale != 1.0 else 1
    return forward_flops(cfg.latte_config(), 1) * (num_samples or t.num_samples) * steps * guided


def plan(study: str, tier: str, seeds: int, extra: tuple[str, ...] = ()) -> dict:
    """The distinct runs of ``study`` (or "all") at ``tier`` with ``seeds`` seeds and their compute."""
    base, work = base_config(tier, extra), Path("runs/ablate")
    runs: dict[str, dict] = {}
    for name in (list(STUDIES) if study == "all" else [study]):
        for arm in study_arms(name, base):
            cfg = arm_config(base, arm, 0, work, tier)
            evals = len(curve_steps(cfg.train.steps, TIERS[tier].curve_points))
            entry = runs.setdefault(arm.key, {"studies": [], **flops(cfg),
                                              "eval_flops": evals * evaluation_flops(cfg, tier)})
            entry["studies"].append(name)
            if arm.init == "image":
                image = image_pretraining_config(base, 0, work, tier)
                runs.setdefault("image-pretraining", {"studies": [name], **flops(image), "eval_flops": 0})
    total = seeds * sum(r["total_flops"] + r["eval_flops"] for r in runs.values())
    result = {"study": study, "tier": tier, "seeds": seeds, "runs": runs, "total_flops": total}
    if tier == "gpu":
        result["h100_hours_estimate"] = [total / (H100_BF16_PEAK * mfu) / 3600 for mfu in reversed(MFU_RANGE)]
    return result


def plan_markdown(p: dict) -> str:
    lines = [f"{p['study']} at the {p['tier']} tier, {p['seeds']} seed(s) per arm: {len(p['runs'])} distinct runs per seed",
             "", "| run | studies | steps | GFLOPs/step | training PFLOPs | evaluation PFLOPs |", "|---|---|---|---|---|---|"]
    for key, r in p["runs"].items():
        lines.append(f"| {key} | {', '.join(r['studies'])} | {r['steps']} | {r['flops_per_step'] / 1e9:.3g} | "
                     f"{r['total_flops'] / 1e15:.3g} | {r['eval_flops'] / 1e15:.3g} |")
    lines += ["", f"total with {p['seeds']} seed(s): {p['total_flops'] / 1e15:.3g} PFLOP"]
    if "h100_hours_estimate" in p:
        low, high = p["h100_hours_estimate"]
        lines[-1] += (f"; about {low:.2g}–{high:.2g} h on one H100 (estimate: the FLOP count at 20–40 % of its "
                      "bf16 peak; not measured)")
    return "\n".join(lines) + "\n"

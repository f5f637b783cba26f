"""A study's results: the JSON (per arm, per metric: per-seed values, mean, 95 % t-interval), a Markdown
table, and the training curves (FD-probe against step, mean and interval across seeds per arm).

The t-interval is symmetric about the mean, so with few seeds and a large spread it can reach past what a
metric can take: below 0 for a distance, outside [0, 1] for an accuracy. Tables and curves show it clipped
to that range (``BOUNDS``); the JSON and the verdict keep it as computed (for FD-probe, bounded below by 0,
clipping could never change a verdict). KID's unbiased estimate can be negative, so it has no bound.
"""
from __future__ import annotations

from pathlib import Path

from .stats import combine, paired_comparisons, paired_verdict, summarize, verdict
from .studies import STUDIES

# evaluate()'s metric names -> the JSON's keys; lower is better for all but acc
KEYS = {"fvd": "fvd", "fd-probe": "fd_probe", "kid": "kid", "acc": "acc"}
VERDICT_METRIC = "fd_probe"
BOUNDS = {"fvd": (0.0, None), "fd_probe": (0.0, None), "acc": (0.0, 1.0)}   # (low, high) a value can take
CLIPPED_NOTE = ("An interval bound of exactly 0 (FD-probe, FVD) or 1 (accuracy) is the t-interval clipped to "
                "the values the metric can take: with few seeds it reaches past them; the JSON and the verdict "
                "use it as computed.")
FAIRNESS = ("equal steps: every arm trains the same number of steps on the same data (the same clips in the "
            "same order for a seed), with the same batch, learning rate and seeds, and is evaluated alike; "
            "variant 3 is parameter-matched to variant 1 (compute_matched_config); where arms differ in cost "
            "(compression patches, joint training, model size, image pretraining) FLOPs per step and in total "
            "are reported per arm, not equalised")


def arm_entry(arm, runs: list[dict], class_conditional: bool) -> dict:
    """One arm's JSON entry from its runs (one per seed, as runs.run_arm returns them)."""
    final_step = max(runs[0]["evals"])
    entry = {"name": arm.name, "overrides": list(arm.overrides), "init": arm.init, "runs": [r["run"] for r in runs],
             **runs[0]["compute"]}
    if "pretraining" in runs[0]:
        entry["pretraining"] = runs[0]["pretraining"]
        entry["total_flops_with_pretraining"] = entry["total_flops"] + entry["pretraining"]["total_flops"]
    for name, key in KEYS.items():
        if name in runs[0]["evals"][final_step]["metrics"] and (key != "acc" or class_conditional):
            entry[key] = summarize([r["evals"][final_step]["metrics"][name]["value"] for r in runs])
    references = [r["evals"][final_step]["metrics"]["fd-probe"].get("reference") for r in runs]
    if None not in references:   # two sets of real clips: the floor a perfect generator reaches at this sample size
        entry["fd_probe_real_vs_real"] = summarize(references)
    entry["curve"] = [{"step": step, VERDICT_METRIC: summarize([r["evals"][step]["metrics"]["fd-probe"]["value"]
                                                               for r in runs])}
                      for step in sorted(runs[0]["evals"])]
    return entry


def study_result(study: str, tier: str, arms: list, runs: dict[str, list[dict]], class_conditional: bool) -> dict:
    """The study's JSON: ``runs`` maps an arm's name to its runs, one per seed (the same seeds for every arm)."""
    s = STUDIES[study]
    entries = [arm_entry(arm, runs[arm.name], class_conditional) for arm in arms]
    final = {e["name"]: e[VERDICT_METRIC]["values"] for e in entries}
    result, unpaired = paired_verdict(final, s.winner), verdict({e["name"]: e[VERDICT_METRIC] for e in entries}, s.winner)
    comparisons = [{"step": entries[0]["steps"], **c} for c in paired_comparisons(final, s.winner)]
    if s.early_winner:   # a finding about the start as well as the end: both parts must hold
        early = {e["name"]: e["curve"][0][VERDICT_METRIC]["values"] for e in entries}
        result = combine(paired_verdict(early, s.early_winner), result)
        unpaired = combine(verdict({e["name"]: e["curve"][0][VERDICT_METRIC] for e in entries}, s.early_winner),
                           unpaired)
        comparisons += [{"step": entries[0]["curve"][0]["step"], **c} for c in paired_comparisons(early, s.early_winner)]
    return {"study": study, "tier": tier, "paper": s.paper, "verdict": result, "verdict_unpaired": unpaired,
            "paper_best": s.winner, "paper_best_early": s.early_winner,
            "verdict_metric": f"{VERDICT_METRIC} (lower is better)", "seeds": len(next(iter(runs.values()))),
            "paired": comparisons, "fairness": FAIRNESS, "notes": s.notes, "arms": entries}


def shown_interval(summary: dict, metric: str) -> tuple[float, float]:
    """A summary's t-interval clipped to the values ``metric`` can take (``BOUNDS``), for tables and curves."""
    low, high = BOUNDS.get(metric, (None, None))
    ci_low, ci_high = summary["ci_low"], summary["ci_high"]
    return (ci_low if low is None else max(ci_low, low)), (ci_high if high is None else min(ci_high, high))


def _clipped(summary: dict | None, metric: str) -> bool:
    return summary is not None and summary["ci_low"] is not None and \
        shown_interval(summary, metric) != (summary["ci_low"], summary["ci_high"])


def _cell(summary: dict | None, metric: str, digits: int = 3) -> str:
    if summary is None:
        return "–"
    if summary["ci_low"] is None:
        return f"{summary['mean']:.{digits}g}"
    low, high = shown_interval(summary, metric)
    return f"{summary['mean']:.{digits}g} [{low:.{digits}g}, {high:.{digits}g}]"


def _interval(summary: dict) -> str:
    return "" if summary["ci_low"] is None else f"[{summary['ci_low']:+.3g}, {summary['ci_high']:+.3g}]"


def to_markdown(results: list[dict]) -> str:
    """One table per study: arms with mean [95 % interval] across seeds, steps and compute."""
    out, clipped = [], False
    for r in results:
        metrics = [k for k in ("fvd", "fd_probe", "kid", "acc") if k in r["arms"][0]]
        out += [f"### {r['study']} ({r['tier']} tier, {r['seeds']} seed{'s' * (r['seeds'] > 1)}): {r['verdict']}", "",
                f"Paper: {r['paper']}." + (f" {r['notes'][0].upper()}{r['notes'][1:]}." if r["notes"] else ""), "",
                "| arm | " + " | ".join(metrics) + " | steps | GFLOPs/step | total PFLOPs |",
                "|---" * (len(metrics) + 4) + "|"]
        for a in r["arms"]:
            total = a["total_flops"] / 1e15
            if "pretraining" in a:
                total = f"{total:.3g} (+{a['pretraining']['total_flops'] / 1e15:.3g} pretraining)"
            else:
                total = f"{total:.3g}"
            out.append(f"| {a['name']} | " + " | ".join(_cell(a.get(m), m) for m in metrics)
                       + f" | {a['steps']} | {a['flops_per_step'] / 1e9:.3g} | {total} |")
            clipped = clipped or any(_clipped(a.get(m), m) for m in metrics)
        floor = [a["fd_probe_real_vs_real"]["mean"] for a in r["arms"] if "fd_probe_real_vs_real" in a]
        if floor:
            out += ["", "FD-probe between two sets of real clips (the floor at this sample size): "
                        f"{sum(floor) / len(floor):.3g}."]
        out += ["", paired_markdown(r)]
    out.append("Mean [95 % t-interval across seeds]; FD-probe and KID lower is better, acc higher. Paired: the FD-probe "
               "difference seed by seed, its mean [95 % paired t-interval], the exact sign-flip p-value and the "
               "smallest difference detectable with 80 % power at this spread; the verdict comes from the paired "
               "intervals, the unpaired verdict (per-arm intervals apart) is given for comparison. Fairness: "
               + FAIRNESS + "." + (" " + CLIPPED_NOTE if clipped else ""))
    return "\n".join(out) + "\n"


def paired_markdown(result: dict) -> str:
    """The study's paired comparisons as a Markdown table (FD-probe, seed by seed)."""
    rows = [f"Paired verdict: **{result['verdict']}** (unpaired: {result['verdict_unpaired']}).", "",
            "| FD-probe difference | step | per seed | mean [95 % paired interval] | sign-flip p | detectable |",
            "|---|---|---|---|---|---|"]
    for c in result["paired"]:
        per_seed = ", ".join(f"{d:+.2f}" for d in c["values"])
        p = "–" if c["p_sign_flip"] is None else f"{c['p_sign_flip']:.3g}"
        detectable = "–" if c["detectable"] is None else f"{c['detectable']:.3g}"
        rows.append(f"| {c['arm']} − {c['minus']} | {c['step']} | {per_seed} | {_cell(c, 'difference')} | {p} | "
                    f"{detectable} |")
    return "\n".join(rows) + "\n"


def findings_table(results: list[dict]) -> str:
    """The paper's finding next to this tier's verdict, one row per study (a study without results says so)."""
    by_name = {r["study"]: r for r in results}
    rows = ["| study | the paper's finding | verdict here (paired) | FD-probe difference, seed by seed: mean [95 % paired "
            "interval] | FD-probe per arm: mean [95 % interval] | unpaired verdict | seeds |",
            "|---|---|---|---|---|---|---|"]
    clipped = False
    for name, study in STUDIES.items():
        r = by_name.get(name)
        if r is None:
            rows.append(f"| {name} | {study.paper} | not run yet | – | – | – | – |")
            continue
        arms = "; ".join(f"{a['name']} {_cell(a.get(VERDICT_METRIC), VERDICT_METRIC)}" for a in r["arms"])
        diffs = "; ".join(f"{c['arm']} − {c['minus']}" + (f" (step {c['step']})" if c["step"] != r["arms"][0]["steps"]
                                                          else "") + f" {c['mean']:+.3g} {_interval(c)}"
                          for c in r["paired"])
        rows.append(f"| {name} | {study.paper} | **{r['verdict']}** | {diffs} | {arms} | {r['verdict_unpaired']} | "
                    f"{r['seeds']} |")
        clipped = clipped or any(_clipped(a.get(VERDICT_METRIC), VERDICT_METRIC) for a in r["arms"])
    return "\n".join(rows) + "\n" + ("\n" + CLIPPED_NOTE + "\n" if clipped else "")


def plot_curves(result: dict, png: str | Path) -> Path:
    """FD-probe against training step per arm: the mean across seeds and its 95 % interval (shaded)."""
    from matplotlib.figure import Figure   # a bare Figure, as viz.py draws: no pyplot state

    fig = Figure(figsize=(6, 3.5), dpi=100)
    ax = fig.subplots()
    for arm in result["arms"]:
        steps = [p["step"] for p in arm["curve"]]
        points = [p[VERDICT_METRIC] for p in arm["curve"]]
        line, = ax.plot(steps, [p["mean"] for p in points], marker="o", label=arm["name"])
        if points[0]["ci_low"] is not None:
            low, high = zip(*(shown_interval(p, VERDICT_METRIC) for p in points))
            ax.fill_between(steps, low, high, color=line.get_color(), alpha=0.2)
    floor = [a["fd_probe_real_vs_real"]["mean"] for a in result["arms"] if "fd_probe_real_vs_real" in a]
    if floor:
        ax.axhline(sum(floor) / len(floor), color="gray", linestyle="--", linewidth=1, label="real vs real")
    ax.set_xlabel("training step")
    ax.set_ylabel("FD-probe (lower is better)")
    ax.set_title(f"{result['study']} ({result['tier']}, {result['seeds']} seeds): {result['verdict']} by the paired "
                 "rule\nshaded: each arm's own 95 % interval across seeds", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    png = Path(png)
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png)
    return png

"""The ablation lab: a ci-tier study end to end, caching, resuming, the verdict rule, bad input.

The tests shorten the ci tier (a few steps, 8 clips per evaluation) to stay quick on a busy CPU; the
real ``python -m minilatte ablate --study conditioning --tier ci --seeds 2`` is timed in the README.
"""
import json
import shutil
from pathlib import Path

import pytest

from minilatte import ablate
from minilatte.ablate import INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED, paired_verdict, runs, summarize, verdict
from minilatte.ablate.studies import STUDIES, Arm, base_config
from minilatte.cli import main

QUICK = ["--set", "train.steps=6", "--set", "train.ckpt_every=3", "--num-samples", "8"]


def test_ci_study_end_to_end_writes_the_schema_and_a_second_run_trains_nothing(tmp_path, monkeypatch, capsys):
    out, md, work = tmp_path / "cond.json", tmp_path / "cond.md", tmp_path / "work"
    args = ["ablate", "--study", "conditioning", "--tier", "ci", "--seeds", "2", "--json", str(out),
            "--markdown", str(md), "--work", str(work), *QUICK]
    assert main(args) == 0
    result = json.loads(out.read_text())
    assert {"study", "tier", "paper", "verdict", "arms"} <= set(result)
    assert (result["study"], result["tier"], result["paper"]) == ("conditioning", "ci", STUDIES["conditioning"].paper)
    assert result["verdict"] in (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE)
    assert [a["name"] for a in result["arms"]] == ["s-adaln", "tokens"]
    for arm in result["arms"]:
        for metric in ("fd_probe", "kid", "acc"):
            m = arm[metric]
            assert len(m["values"]) == 2 and m["ci_low"] <= m["mean"] <= m["ci_high"]
        assert arm["steps"] == 6 and arm["total_flops"] == 6 * arm["flops_per_step"] > 0
        assert [p["step"] for p in arm["curve"]] == [2, 4, 6]
        assert len(arm["fd_probe_real_vs_real"]["values"]) == 2
    assert result["arms"][1]["flops_per_step"] > result["arms"][0]["flops_per_step"]   # tokens lengthen the sequence
    assert (work / "ci" / "curves" / "conditioning.png").stat().st_size > 0
    assert "### conditioning (ci tier, 2 seeds)" in md.read_text()

    def no_training(*a, **k):
        raise AssertionError("a cached run was trained again")

    monkeypatch.setattr(runs, "train", no_training)
    monkeypatch.setattr(runs, "evaluate", no_training)
    capsys.readouterr()
    assert main(args) == 0
    assert capsys.readouterr().out.count(": cached;") == 4
    assert json.loads(out.read_text()) == result


def test_a_finished_image_init_run_is_read_without_its_image_model(tmp_path, monkeypatch):
    # the committed run records hold configs and evaluations, not checkpoints: reading them must not pretrain again
    base = base_config("ci", ("train.steps=6", "train.ckpt_every=3"))
    arm = Arm("image-init", init="image")
    first = runs.run_arm(base, arm, 0, tmp_path, "ci", num_samples=8, report=lambda line: None)
    assert first["pretraining"]["total_flops"] > 0
    shutil.rmtree(tmp_path / "ci" / "image-pretraining")

    def no_training(*a, **k):
        raise AssertionError("a cached run was trained again")

    monkeypatch.setattr(runs, "train", no_training)
    monkeypatch.setattr(runs, "evaluate", no_training)
    again = runs.run_arm(base, arm, 0, tmp_path, "ci", num_samples=8, report=lambda line: None)
    assert again["pretraining"] == first["pretraining"] and again["evals"] == first["evals"]
    assert not (tmp_path / "ci" / "image-pretraining").exists()


def test_an_interrupted_run_resumes_to_the_uninterrupted_result(tmp_path, monkeypatch):
    base = base_config("ci", ("train.steps=6", "train.ckpt_every=3"))
    arm = Arm("tokens", ("model.conditioning=tokens",))
    whole = runs.run_arm(base, arm, 0, tmp_path / "whole", "ci", num_samples=8, report=lambda line: None)

    from minilatte.train import Trainer
    step = Trainer.train_step

    def killed_at_step_5(self, batch):           # a hard stop mid-segment: no checkpoint after step 4
        if self.step == 4:
            raise KeyboardInterrupt
        return step(self, batch)

    monkeypatch.setattr(Trainer, "train_step", killed_at_step_5)
    with pytest.raises(KeyboardInterrupt):
        runs.run_arm(base, arm, 0, tmp_path / "cut", "ci", num_samples=8, report=lambda line: None)
    folder = tmp_path / "cut" / "ci" / arm.key / "seed0"
    assert sorted(p.name for p in folder.glob("eval_*.json")) == ["eval_0000002.json", "eval_0000004.json"]
    monkeypatch.setattr(Trainer, "train_step", step)
    lines = []
    resumed = runs.run_arm(base, arm, 0, tmp_path / "cut", "ci", num_samples=8, report=lines.append)
    assert "trained to 6" in lines[0]
    for s in (2, 4, 6):
        assert resumed["evals"][s]["metrics"] == whole["evals"][s]["metrics"]


def test_a_run_folder_of_other_settings_is_refused(tmp_path):
    base = base_config("ci", ("train.steps=2",))
    runs.run_arm(base, Arm("s-adaln"), 0, tmp_path, "ci", num_samples=8, report=lambda line: None)
    other = base_config("ci", ("train.steps=2", "train.lr=1e-4"))
    with pytest.raises(ValueError, match="holds a run of other settings"):
        runs.run_arm(other, Arm("s-adaln"), 0, tmp_path, "ci", num_samples=8, report=lambda line: None)


def test_a_run_recorded_before_a_setting_was_added_is_still_read(tmp_path):
    base = base_config("ci", ("train.steps=2",))
    first = runs.run_arm(base, Arm("s-adaln"), 0, tmp_path, "ci", num_samples=8, report=lambda line: None)
    record = Path(first["run"]) / runs.RUN_FILE
    older = json.loads(record.read_text())
    del older["data"]["text_encoder"]             # as written before data.text_encoder existed (default None)
    record.write_text(json.dumps(older))
    lines = []
    again = runs.run_arm(base, Arm("s-adaln"), 0, tmp_path, "ci", num_samples=8, report=lines.append)
    assert "cached" in lines[0] and again["evals"] == first["evals"]


def _arms(**intervals):
    return {name: {"values": [], "mean": (lo + hi) / 2, "ci_low": lo, "ci_high": hi} for name, (lo, hi) in intervals.items()}


def test_verdict_rule_on_hand_made_numbers():
    assert verdict(_arms(a=(1, 2), b=(3, 4), c=(2.5, 5)), "a") == REPRODUCED         # best, no overlap with any
    assert verdict(_arms(a=(3, 4), b=(1, 2)), "a") == NOT_REPRODUCED                  # another arm clearly better
    assert verdict(_arms(a=(1, 3), b=(2, 4)), "a") == INCONCLUSIVE                    # overlap
    assert verdict(_arms(a=(1, 2), b=(3, 4), c=(1.5, 3.5)), "a") == INCONCLUSIVE      # overlaps one of them
    assert verdict(_arms(a=(0.6, 0.7), b=(0.2, 0.3)), "a", lower_is_better=False) == REPRODUCED
    assert verdict(_arms(a=(1, 3), b=(2, 4)), None) == INCONCLUSIVE                   # "little difference"
    assert verdict(_arms(a=(1, 2), b=(3, 4)), None) == NOT_REPRODUCED
    one_seed = {"a": summarize([1.0]), "b": summarize([5.0])}
    assert one_seed["a"]["ci_low"] is None and verdict(one_seed, "a") == INCONCLUSIVE
    assert ablate.stats.combine(REPRODUCED, INCONCLUSIVE) == INCONCLUSIVE
    assert ablate.stats.combine(REPRODUCED, NOT_REPRODUCED) == NOT_REPRODUCED


def test_paired_verdict_separates_a_constant_shift_that_unpaired_intervals_cannot():
    # seeds that differ a lot (data, evaluation) shift every arm alike; "b" is worse by 1 on every seed, give or take 0.1
    seed_effect = [0.0, 3.0, -2.0, 5.0, 1.0]
    a = [8 + e for e in seed_effect]
    b = [9 + e + n for e, n in zip(seed_effect, [0.1, -0.1, 0.05, 0.0, -0.05])]
    assert verdict({"a": summarize(a), "b": summarize(b)}, "a") == INCONCLUSIVE      # per-arm intervals overlap
    assert paired_verdict({"a": a, "b": b}, "a") == REPRODUCED                       # seed by seed: b − a ≈ 1
    assert paired_verdict({"a": b, "b": a}, "a") == NOT_REPRODUCED                   # the same data, the paper wrong
    assert paired_verdict({"a": a, "b": b}, None) == NOT_REPRODUCED                  # "little difference" contradicted
    diff = ablate.stats.paired(b, a)
    assert diff["mean"] == pytest.approx(1.0) and 0.8 < diff["ci_low"] < 1 < diff["ci_high"] < 1.2
    assert diff["p_sign_flip"] == 2 / 32            # every seed the same sign: the smallest two-sided p with 5 seeds
    assert 0 < diff["detectable"] < 0.3             # the spread of the differences is ~0.08
    # noise larger than the shift: the paired interval contains zero, nothing is claimed
    noisy = [9 + e + n for e, n in zip(seed_effect, [2.0, -1.5, 1.0, -2.0, 0.5])]
    assert paired_verdict({"a": a, "b": noisy}, "a") == INCONCLUSIVE
    assert paired_verdict({"a": a, "b": noisy}, None) == INCONCLUSIVE
    assert paired_verdict({"a": [1.0], "b": [2.0]}, "a") == INCONCLUSIVE              # one seed: no interval
    assert paired_verdict({"a": [0.9, 0.95, 0.92], "b": [0.5, 0.6, 0.55]}, "a", lower_is_better=False) == REPRODUCED


def test_paired_comparisons_refuse_unaligned_seeds_and_unknown_arms():
    with pytest.raises(ValueError, match="same seeds"):
        ablate.stats.paired([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="winner 'c' is not one of the arms a, b"):
        paired_verdict({"a": [1.0, 2.0], "b": [1.0, 2.0]}, "c")
    pairs = ablate.stats.paired_comparisons({"x": [1.0, 2.0], "y": [2.0, 3.0], "z": [4.0, 4.0]}, None)
    assert [(c["arm"], c["minus"]) for c in pairs] == [("y", "x"), ("z", "x"), ("z", "y")]


def test_sign_flip_p_is_exact():
    assert ablate.stats.sign_flip_p([1.0, 1.0, 1.0]) == 2 / 8
    assert ablate.stats.sign_flip_p([1.0, -1.0]) == 1.0
    assert ablate.stats.sign_flip_p([3.0, 1.0, 1.0, 1.0]) == 2 / 16    # only all-same signs reach |sum| 6
    assert ablate.stats.sign_flip_p([1.0, 1.0, 1.0, -1.0]) == 10 / 16  # |sum| >= 2: sums 4, 2, -2, -4 (1+4+4+1 patterns)


def test_t_interval_of_three_values():
    s = summarize([1.0, 2.0, 3.0])      # mean 2, sd 1, t(2) = 4.303
    assert s["mean"] == 2.0 and s["ci_high"] - 2.0 == pytest.approx(4.303 / 3 ** 0.5)


@pytest.mark.parametrize("args, message", [
    (["--study", "nope"], "study 'nope' is unknown"),
    (["--study", "conditioning", "--tier", "tpu"], "tier 'tpu' is unknown"),
    (["--study", "conditioning", "--seeds", "0"], "seeds=0 must be an integer >= 1"),
])
def test_bad_input_is_one_line(tmp_path, capsys, args, message):
    assert main(["ablate", *args, "--work", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_all_studies_schema_on_a_tiny_setting(tmp_path):
    result = ablate.run_ablation("all", "ci", seeds=1, work=tmp_path, extra=("train.steps=1",), num_samples=4,
                                 report=lambda line: None)
    assert [s["study"] for s in result["studies"]] == list(STUDIES)
    for study in result["studies"]:
        assert study["verdict"] == INCONCLUSIVE                 # one seed: no interval
        for arm in study["arms"]:
            assert arm["fd_probe"]["ci_low"] is None and len(arm["fd_probe"]["values"]) == 1
    variant = result["studies"][0]["arms"]
    assert variant[2]["name"] == "variant-3" and any(o.startswith("model.depth=") for o in variant[2]["overrides"])
    init = result["studies"][-1]["arms"][1]
    assert init["pretraining"]["steps"] == 1 and init["total_flops_with_pretraining"] > init["total_flops"]


def test_plan_counts_shared_runs_once_and_estimates_the_gpu_tier(capsys):
    from minilatte.ablate.plan import plan
    p = plan("all", "gpu", seeds=3)
    assert len(p["runs"]) == 14 and len(p["runs"]["base"]["studies"]) == len(STUDIES)
    low, high = p["h100_hours_estimate"]
    assert 0 < low < high
    assert main(["ablate", "--study", "conditioning", "--tier", "cpu", "--seeds", "1", "--plan"]) == 0
    assert "model.conditioning=tokens" in capsys.readouterr().out


def test_findings_table_has_a_row_per_study_and_says_which_are_not_run():
    from minilatte.ablate.report import findings_table
    values = {"s-adaln": [8.7, 9.4, 8.9], "tokens": [11.0, 10.8, 11.3]}
    result = {"study": "conditioning", "verdict": REPRODUCED, "verdict_unpaired": INCONCLUSIVE, "seeds": 3,
              "paired": [{"step": 2700, **c} for c in ablate.stats.paired_comparisons(values, "s-adaln")],
              "arms": [{"name": name, "steps": 2700, "fd_probe": summarize(v)} for name, v in values.items()]}
    table = findings_table([result]).splitlines()
    assert len(table) == 2 + len(STUDIES)
    row = next(line for line in table if line.startswith("| conditioning |"))
    assert f"**{REPRODUCED}**" in row and "s-adaln 9 [" in row and "tokens 11" in row and row.endswith("| 3 |")
    assert "tokens − s-adaln +2.03 [" in row and f"| {INCONCLUSIVE} |" in row
    assert sum("not run yet" in line for line in table) == len(STUDIES) - 1


def test_tables_show_intervals_clipped_to_what_a_metric_can_take_and_keep_the_computed_ones():
    from minilatte.ablate.report import CLIPPED_NOTE, findings_table, to_markdown
    wide = {"name": "s-adaln", "steps": 120, "flops_per_step": 1e9, "total_flops": 1.2e11,
            "fd_probe": summarize([126.4, 167.4]), "kid": summarize([-0.5, 9.5]), "acc": summarize([0.04688, 0.0])}
    narrow = {"name": "tokens", "steps": 120, "flops_per_step": 1e9, "total_flops": 1.2e11,
              "fd_probe": summarize([261.3, 283.5]), "kid": summarize([30.8, 34.7]), "acc": summarize([0.9, 0.98])}
    paired = ablate.stats.paired_comparisons({"s-adaln": [126.4, 167.4], "tokens": [261.3, 283.5]}, "s-adaln")
    result = {"study": "conditioning", "tier": "ci", "seeds": 2, "verdict": INCONCLUSIVE, "paper": "x", "notes": "",
              "verdict_unpaired": INCONCLUSIVE, "paired": [{"step": 120, **c} for c in paired], "arms": [wide, narrow]}
    assert wide["fd_probe"]["ci_low"] < 0 and wide["acc"]["ci_low"] < 0 and narrow["acc"]["ci_high"] > 1
    table = to_markdown([result])
    row = next(line for line in table.splitlines() if line.startswith("| s-adaln |"))
    fd, kid, acc = (cell.strip() for cell in row.split("|")[2:5])
    assert fd == f"147 [0, {wide['fd_probe']['ci_high']:.3g}]"
    assert acc == f"0.0234 [0, {wide['acc']['ci_high']:.3g}]"
    assert kid == f"4.5 [{wide['kid']['ci_low']:.3g}, {wide['kid']['ci_high']:.3g}]"   # KID can be negative
    assert "| 0.94 [0.432, 1] |" in next(line for line in table.splitlines() if line.startswith("| tokens |"))
    assert CLIPPED_NOTE in table and CLIPPED_NOTE in findings_table([result])
    assert wide["fd_probe"]["ci_low"] < 0                      # the summaries (JSON, verdict) are untouched
    assert verdict({"s-adaln": wide["fd_probe"], "tokens": narrow["fd_probe"]}, "s-adaln") == INCONCLUSIVE
    narrow_only = dict(result, arms=[dict(narrow, acc=summarize([0.90, 0.91, 0.92]))])
    assert CLIPPED_NOTE not in to_markdown([narrow_only]) and CLIPPED_NOTE not in findings_table([narrow_only])

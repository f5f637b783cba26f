"""Hints say what is wrong and where to look, never the operations of the fix.

Every checker's hints are covered twice:

* **every hint in the source**: each string a checker module assigns to ``hint``, passes as ``hint=``,
  keeps in a table of hints or writes after ``hint:`` into an ``AssertionError`` is read with ``ast``
  and must contain none of the checker's forbidden fragments. These are the reference solution's
  operations: the functions it calls and its einops patterns (read from the notebook's solution cell),
  plus the formulas and steps written out below (the solution in words or symbols);
* **one unrecognised mistake per checker**: a wrong answer that none of the specific hints recognise
  must still fail with a hint, and that hint must be free of the same fragments.

The markdown prompts' "Hint" lines are held to the same fragments. A new checker fails this test until it
has its entry in ``FORBIDDEN`` and ``UNRECOGNISED``.
"""
import ast
import functools
import inspect
import re
import textwrap
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch

import minilatte.checks as checks
from minilatte.assignments import BEGIN, END, EXERCISE_TAG

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"

# The reference solutions in words and symbols, beyond the calls read from the notebooks.
FORBIDDEN = {
    "check_to_uint8": ["clamp", "127.5", "* 255", "(video + 1)", "rearrange", "uint8)", "astype"],
    "check_model_evaluations": ["steps * num_videos", "num_videos * steps", "2 if", "twice per step",
                                "once on the whole batch"],
    "check_frame_indices": ["linspace", "min(", "astype", ".long()", "end - 1", "end − 1", "begin + window"],
    "check_psnr": ["log10(", "2**2", "2 ** 2", "4 /", "flatten", ".mean(", "10 ·", "10·log10", "20 ·"],
    "check_encode_frames": ["rearrange", "(b f)", "mode()", "z - mean", "* scale", "subtract mean",
                            "fold the frames"],
    "check_patchify": ["rearrange", "(nh p)", "(nw q)", "(nh nw)", "(p q c)", "->"],
    "check_token_count": ["F / s", "(H / p)", "(W / p)", "// p", "// s", "divide H"],
    "check_attention_mask": ["//", "%", "==", "arange", "[:, None]"],
    "check_temporal_attention": ["(b n)", "(h d)", "split q/k/v first", "split q, k, v and the heads"],
    "check_timestep_embedding": ["exp(", "ln(10000)", "log(10000)", "cat("],
    "check_modulate": ["unsqueeze", "None]", "(1 + scale)", "multiply by"],
    "check_sincos_1d": ["cat(", "cat([", "float64)", "10000 **", "1 / 10000"],
    "check_apply_rope": ["x1·cos", "x2·sin", "x1 * cos", "x2 * sin", "cat(", "x[..., :", "d/2:]"],
    "check_q_sample": ["(B, 1, 1, 1, 1)", "view(", "reshape", "square root", "sqrt(", "look up"],
    "check_ddim_step": ["√ᾱ_prev ·", "√ᾱ_prev·", "√(1 − ᾱ_prev) ·", "+ √(1 − ᾱ_prev)", "(x_t −", "(x_t -",
                        "re-noise"],
    "check_adamw_step": ["lr·wd·param", "param − lr", "1 − β₁^step", "β₂^step", "after the square root",
                         "beta1 **", "(1 - lr"],
    "check_x0_from_prediction": ["√ᾱ x_t − √(1−ᾱ) v", "√ᾱ x_t", "(B, 1, 1, 1, 1)", "view(", "solve for",
                                 "reshape"],
    "check_ema_init_weight": ["** num_steps", "^num_steps", "multiply the decays", "product of", "Π",
                              "min(decay"],
    "check_influence_mask": ["eye(", "[:n_video", "its own tokens", "no video frame sees it", "diagonal"],
    "check_frame_labels": ["repeat", "cat(", "b -> b f", "in that order"],
    "check_block_parameters": ["18 D", "D²", "3 * D", "D * D", "qkv (D→3D)"],
    "check_attention_flops": ["L²", "L * L", "2 * 2", "× L", "F sequences of length N",
                              "N sequences of length F"],
    "check_frechet_distance": ["sqrtm", "@", "np.trace", "np.sqrt", "scipy", "−2·tr", "real part"],
    "check_mmd2_unbiased": ["subtract the trace", "trace", "N(N−1)", "N(N-1)", "n * (n - 1)", "divide by",
                            "− 2·mean", "/ D + 1)³"],
    "check_t_interval": ["t_quantile(n - 1)", "stdev(", "sqrt(n)", "/ √n", "mean ± half", "n - 1 degrees",
                         "n − 1 degrees", "use the sample one"],
    "check_verdict": ["ci_high", "ci_low", "summarize(", "is None", "<"],
}

# A wrong answer per checker that no specific hint recognises (so the checker's general hint shows).
UNRECOGNISED = {
    "check_to_uint8": lambda video: torch.zeros(2, 4, 5, 3, dtype=torch.uint8),
    "check_model_evaluations": lambda num_videos, steps, cfg_scale: 7,
    "check_frame_indices": lambda total, n, interval, begin: np.full(n, begin),
    "check_psnr": lambda a, b: torch.zeros(len(a)),
    "check_encode_frames": lambda vae, video, mean, scale: torch.full((2, 3, 4, 8, 8), 5.0),
    "check_patchify": lambda x, p: torch.zeros(*x.shape[:2], (x.shape[3] // p) * (x.shape[4] // p),
                                               p * p * x.shape[2]),
    "check_token_count": lambda *args: 1,
    "check_attention_mask": lambda axis, frames, patches: torch.ones(frames * patches, frames * patches,
                                                                     dtype=torch.bool),
    "check_temporal_attention": lambda qkv, heads: torch.zeros(*qkv.shape[:3], qkv.shape[-1] // 3),
    "check_timestep_embedding": lambda t, dim: torch.zeros(len(t), dim),
    "check_modulate": lambda x, shift, scale: x,
    "check_sincos_1d": lambda dim, positions: torch.zeros(len(positions), dim),
    "check_apply_rope": lambda x: x,
    "check_q_sample": lambda x0, t, noise, alphas_cumprod: x0,
    "check_ddim_step": lambda x_t, eps, alpha_bar_t, alpha_bar_prev: x_t,
    "check_adamw_step": lambda param, grad, exp_avg, exp_avg_sq, *args: (param, exp_avg, exp_avg_sq),
    "check_x0_from_prediction": lambda x_t, prediction, alpha_bar, kind: x_t,
    "check_ema_init_weight": lambda num_steps, decay, warmup: 0.5,
    "check_influence_mask": lambda n_video, num_images: torch.zeros(n_video + num_images, n_video + num_images,
                                                                    dtype=torch.bool),
    "check_frame_labels": lambda y, y_images, n_video: torch.zeros(2, 7, dtype=torch.long),
    "check_block_parameters": lambda hidden_size, mlp_ratio: 1,
    "check_attention_flops": lambda *args: 1,
    "check_frechet_distance": lambda *args: 0.0,
    "check_mmd2_unbiased": lambda x, y: 0.0,
    "check_t_interval": lambda values: (0.0, 0.0, 0.0),
    "check_verdict": lambda winner_values, other_values: "no idea",
}

CHECKERS = sorted(name for name in dir(checks) if name.startswith("check_"))


@functools.cache
def solutions() -> dict[str, str]:
    """Checker name -> the reference solution lines of the exercise whose test cell calls it."""
    found = {}
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        cells = nbformat.read(path, as_version=4).cells
        for cell, test in zip(cells, cells[1:]):
            if EXERCISE_TAG in cell.metadata.get("tags", []):
                called = re.match(r"\s*(check_\w+)\(", test.source)
                assert called, f"{path.name}: the cell after an exercise calls no checker"
                body = cell.source.split(BEGIN, 1)[1].split(END, 1)[0]
                assert called.group(1) not in found, f"{called.group(1)} grades two exercises"
                found[called.group(1)] = textwrap.dedent(body)
    return found


@functools.cache
def prompt_hints() -> dict[str, list[str]]:
    """Checker name -> the lines of its exercise's markdown prompt that give a hint."""
    found = {}
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        cells = nbformat.read(path, as_version=4).cells
        for index, cell in enumerate(cells[:-1]):
            if EXERCISE_TAG in cell.metadata.get("tags", []):
                checker = re.match(r"\s*(check_\w+)\(", cells[index + 1].source).group(1)
                prompt = next(c for c in reversed(cells[:index]) if c.cell_type == "markdown")
                found[checker] = [line for line in prompt.source.splitlines() if "hint" in line.lower()]
    return found


def solution_operations(source: str) -> list[str]:
    """The calls (``linspace(``, ``sqrt(``) and einops patterns of a reference solution."""
    tree = ast.parse(source)
    names, patterns = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            names.add(func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and "->" in node.value:
            patterns.add(node.value)
    return sorted(f"{name}(" for name in names if name) + sorted(patterns)


def _pieces(node) -> list[str]:
    return [n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def source_hints(module) -> dict[str, list[str]]:
    """Function name (``""`` for module level) -> every hint text in the module's source."""
    tree = ast.parse(inspect.getsource(module))
    found: dict[str, list[str]] = {}

    def visit(node, owner):
        if isinstance(node, ast.FunctionDef) and owner == "":
            owner = node.name
        texts = []
        if isinstance(node, (ast.Assign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            named = [t.value if isinstance(t, ast.Subscript) else t for t in targets]   # hint, hints[key]
            if any(isinstance(t, ast.Name) and "hint" in t.id for t in named):
                texts = _pieces(node.value)
            elif owner == "" and isinstance(node.value, ast.Dict) and node.value.values and all(
                    isinstance(v, ast.Constant) and isinstance(v.value, str) for v in node.value.values):
                texts = [v.value for v in node.value.values]            # a module-level table of hints
        elif isinstance(node, ast.keyword) and node.arg == "hint":
            texts = _pieces(node.value)
        elif isinstance(node, ast.Raise) and node.exc is not None:
            message = "".join(_pieces(node.exc))
            texts = [message.split("hint:", 1)[1]] if "hint:" in message else []
        found.setdefault(owner, []).extend(texts)
        for child in ast.iter_child_nodes(node):
            visit(child, owner)

    visit(tree, "")
    return found


def forbidden(checker: str, operations: dict[str, str]) -> list[str]:
    return list(dict.fromkeys(FORBIDDEN[checker] + solution_operations(operations[checker])))


def offending(text: str, fragments: list[str]) -> list[str]:
    text = " ".join(text.split())
    return [f for f in fragments if (re.search(r"(?<!\w)" + re.escape(f), text) if f.endswith("(") else f in text)]


def test_every_checker_is_covered():
    operations = solutions()
    assert sorted(FORBIDDEN) == CHECKERS and sorted(UNRECOGNISED) == CHECKERS
    assert sorted(operations) == CHECKERS, "every checker grades an exercise with a reference solution"


@pytest.mark.parametrize("checker", CHECKERS)
def test_no_hint_in_the_source_gives_the_solution(checker):
    module = inspect.getmodule(getattr(checks, checker))
    hints = source_hints(module)
    assert hints.get(checker), f"{checker}: no hint found in {module.__name__} (does the scan still see them?)"
    operations = solutions()
    mine = forbidden(checker, operations)
    # Hints outside a checker (helpers, tables of hints) are held to every checker of the module.
    shared = [f for name in CHECKERS if inspect.getmodule(getattr(checks, name)) is module
              for f in forbidden(name, operations)]
    bad = [(text, offending(text, mine)) for text in hints[checker]]
    bad += [(text, offending(text, shared)) for owner, texts in hints.items()
            if not owner.startswith("check_") for text in texts]
    bad = [f"{text!r} contains {found}" for text, found in bad if found]
    assert not bad, f"{checker}: hints that give the solution:\n" + "\n".join(bad)


@pytest.mark.parametrize("checker", CHECKERS)
def test_the_hint_for_an_unrecognised_mistake_gives_no_solution(checker):
    with pytest.raises(AssertionError, match="hint: ") as caught:
        getattr(checks, checker)(UNRECOGNISED[checker])
    hint = str(caught.value).split("hint: ", 1)[1]
    assert not offending(hint, forbidden(checker, solutions())), hint


@pytest.mark.parametrize("checker", CHECKERS)
def test_the_prompt_hints_give_no_solution(checker):
    bad = [(line, offending(line, forbidden(checker, solutions()))) for line in prompt_hints()[checker]]
    bad = [f"{line!r} contains {found}" for line, found in bad if found]
    assert not bad, f"the prompt of {checker}'s exercise:\n" + "\n".join(bad)

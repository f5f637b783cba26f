"""What every checker shares: call the learner's code, compare with minilatte, explain a mismatch.

A checker runs the learner's object on fixed seeded inputs, compares the result with the minilatte
reference within a stated tolerance and either prints one line (``✓ patchify matches minilatte
(max abs diff 0)``) or raises ``AssertionError`` saying what was expected: the shape, the first
element that differs, the tolerance, and a hint about the usual mistake.
"""
from __future__ import annotations

import numpy as np
import torch


def _describe(value) -> str:
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)} ({value.dtype})"
    if isinstance(value, np.ndarray):
        return f"a numpy array of shape {value.shape}"
    return f"{type(value).__name__} {value!r}"[:120]


def call(name: str, fn, *args, **kwargs):
    """``fn(*args, **kwargs)``; an error other than NotImplementedError names the call that failed."""
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        raise                                    # an unsolved exercise: let the learner see it as is
    except Exception as err:
        shown = ", ".join([_describe(a) for a in args] + [f"{k}={_describe(v)}" for k, v in kwargs.items()])
        raise AssertionError(f"{name} raised {type(err).__name__}: {err}\n  called with: {shown}") from err


def assert_close(name: str, got, expected: torch.Tensor, *, atol: float = 1e-5, rtol: float = 1e-5,
                 hint: str = "", what: str = "output") -> float:
    """Compare ``got`` with ``expected`` elementwise; return the largest absolute difference.

    Passes when ``|got - expected| <= atol + rtol * |expected|`` everywhere. On failure the message
    names the shape or the first element outside the tolerance, and ends with ``hint``.
    """
    hint = f"\n  hint: {hint}" if hint else ""
    if isinstance(got, np.ndarray):
        got = torch.from_numpy(got)
    if not isinstance(got, torch.Tensor):
        raise AssertionError(f"{name}: expected a torch.Tensor as {what}, got {_describe(got)}{hint}")
    if tuple(got.shape) != tuple(expected.shape):
        raise AssertionError(f"{name}: {what} has shape {tuple(got.shape)}, expected {tuple(expected.shape)}{hint}")
    got64, exp64 = got.detach().cpu().double(), expected.detach().cpu().double()
    if not torch.isfinite(got64).all():
        index = tuple(int(i) for i in (~torch.isfinite(got64)).nonzero()[0])
        raise AssertionError(f"{name}: {what} has a non-finite value {got64[index].item()} at index {index}{hint}")
    diff = (got64 - exp64).abs()
    bad = diff > atol + rtol * exp64.abs()
    if bad.any():
        index = tuple(int(i) for i in bad.nonzero()[0])
        raise AssertionError(
            f"{name}: {what} differs from minilatte at index {index}: got {got64[index].item():.6g}, "
            f"expected {exp64[index].item():.6g}; {int(bad.sum())} of {bad.numel()} elements are off, "
            f"max abs diff {diff.max().item():.3g} (tolerance atol={atol:g}, rtol={rtol:g}){hint}")
    return diff.max().item() if diff.numel() else 0.0


def assert_equal(name: str, got, expected, hint: str = "", what: str = "result") -> None:
    """Exact equality for plain values (ints, tuples): counts, shapes, formulas."""
    if got != expected:
        hint = f"\n  hint: {hint}" if hint else ""
        raise AssertionError(f"{name}: {what} is {got!r}, expected {expected!r}{hint}")


def passed(name: str, max_diff: float | None = None, detail: str = "") -> None:
    """Print the one-line success message."""
    diff = f" (max abs diff {max_diff:.2g})" if max_diff is not None else ""
    print(f"✓ {name} matches minilatte{diff}{detail}")


def seeded(seed: int = 0) -> torch.Generator:
    """A torch generator for the checkers' fixed inputs (leaves the global RNG alone)."""
    return torch.Generator().manual_seed(seed)

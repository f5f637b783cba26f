import subprocess

import pytest
import torch

from minilatte.testing import randomize_  # noqa: F401  (tests import it from here)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def assert_same_up_to_rounding(got: torch.Tensor, expected: torch.Tensor, rel: float = 1e-5) -> float:
    """``got`` equals ``expected`` but for float rounding: ``max|got - expected| <= rel * max|expected|``.

    For one result computed two ways that agree in exact arithmetic: a batch against its samples one
    by one, a differently split or ordered sum. Float32 kernels pick their blocking by shape and by CPU
    (AVX2, AVX-512, AMX) and thread count, so such results differ in their last bits, by an amount that
    scales with the values; a fixed absolute tolerance fails on one CPU and passes on another. ``rel``
    counts in units of the largest value: float32 rounds at about 1.2e-7 of it, so 1e-5 leaves room for
    the error of a few dozen chained operations. Returns the measured ratio.
    """
    assert got.shape == expected.shape, f"shape {tuple(got.shape)} != {tuple(expected.shape)}"
    got, expected = got.detach().double(), expected.detach().double()
    diff, scale = (got - expected).abs().max().item(), expected.abs().max().item()
    assert diff <= rel * scale, f"max|got - expected| = {diff:.3g} is more than {rel:g} of max|expected| = {scale:.3g}"
    return diff / scale if scale else 0.0


def torchrun_error(stderr: str) -> str:
    """What the worker processes printed before torchrun's own report of their failure (its traceback
    of the launcher says only which rank died)."""
    end = stderr.find("failed (exitcode:")
    return stderr[:end if end >= 0 else len(stderr)][-4000:]


def stop_process(proc: subprocess.Popen, timeout: float) -> None:
    """Stop a process a test started: SIGTERM (a torchrun agent then stops its workers), SIGKILL after ``timeout`` s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

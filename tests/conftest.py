import pytest
import torch

from minilatte.testing import randomize_  # noqa: F401  (tests import it from here)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def torchrun_error(stderr: str) -> str:
    """What the worker processes printed before torchrun's own report of their failure (its traceback
    of the launcher says only which rank died)."""
    end = stderr.find("failed (exitcode:")
    return stderr[:end if end >= 0 else len(stderr)][-4000:]

import pytest
import torch

from minilatte.testing import randomize_  # noqa: F401  (tests import it from here)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)

import pytest
import torch


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def randomize_(model: torch.nn.Module, std: float = 0.05) -> torch.nn.Module:
    """Give every parameter random non-zero values (a fresh S-AdaLN model is all zeros at the output)."""
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, std)
    return model

"""The analytic FLOP count equals PyTorch's FlopCounterMode (attention through the math backend)."""
import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from minilatte.flops import forward_flops
from minilatte.models import create_latte, latte_config


@pytest.mark.parametrize("kwargs", [dict(), dict(variant=2), dict(variant=3), dict(variant=4), dict(num_classes=5),
                                    dict(conditioning="tokens", num_classes=3),
                                    dict(patch_embedding="compression", tubelet_stride=2)])
def test_forward_flops_match_the_flop_counter(kwargs):
    model = create_latte("Latte-Nano/2", num_frames=4, input_size=8, in_channels=3, **kwargs).eval()
    x, t = torch.randn(2, 4, 3, 8, 8), torch.tensor([1, 2])
    y = torch.tensor([0, 1]) if model.config.num_classes else None
    # FlopCounterMode does not see inside the fused CPU attention kernel; the math backend is plain matmuls.
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        model(x, t, y)
    assert counter.get_total_flops() == forward_flops(model.config, batch_size=2)


@pytest.mark.parametrize("variant", [1, 2])
def test_text_model_flops(variant):
    model = create_latte("Latte-Nano/2", num_frames=4, input_size=8, in_channels=3, conditioning="text",
                         text_dim=10, variant=variant).eval()
    x, t, text = torch.randn(2, 4, 3, 8, 8), torch.tensor([1, 2]), torch.randn(2, 7, 10)
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        model(x, t, text=text)
    assert counter.get_total_flops() == forward_flops(model.config, batch_size=2, caption_length=7)


def test_joint_images_flops():
    model = create_latte("Latte-Nano/2", num_frames=4, input_size=8, in_channels=3, num_classes=3).eval()
    x, t, y = torch.randn(1, 6, 3, 8, 8), torch.tensor([1]), torch.tensor([0])
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        model(x, t, y, num_images=2, y_images=torch.tensor([[1, 2]]))
    assert counter.get_total_flops() == forward_flops(model.config, batch_size=1, num_images=2)


def test_latte_xl2_forward_cost():
    # 3.73 TFLOP for one 16x256² video. The official code computes the adaLN modulation once per frame
    # and per patch position instead of once per video, which adds 0.06 TFLOP (1.7 %) on top.
    flops = forward_flops(latte_config("Latte-XL/2", num_frames=16, input_size=32))
    assert round(flops / 1e12, 2) == 3.73

"""The memory model: parameter and AdamW bytes exact (meta device), activations against saved-tensor hooks."""
import copy
import itertools

import pytest
import torch

from minilatte.memory import (GiB, activation_bytes, max_batch_per_gpu, measure_saved_bytes,
                              measure_training_state_bytes, memory_per_gpu, paper_table, parameter_count,
                              parameter_shapes, training_state_bytes)
from minilatte.models import count_parameters, create_latte, latte_config

ALL_CHOICES = list(itertools.product((1, 2, 3, 4), ("uniform", "compression"), ("s-adaln", "tokens"),
                                     ("absolute", "rope"), (0, 7)))


def _kwargs(variant, patch_embedding, conditioning, temporal_pe, num_classes):
    kw = dict(variant=variant, patch_embedding=patch_embedding, conditioning=conditioning, temporal_pe=temporal_pe,
              num_classes=num_classes, num_frames=4, input_size=8)
    if patch_embedding == "compression":
        kw["tubelet_stride"] = 2
    return kw


@pytest.mark.parametrize("choice", ALL_CHOICES)
def test_parameter_shapes_match_the_model(choice):
    kw = _kwargs(*choice)
    with torch.device("meta"):
        model = create_latte("Latte-Nano/2", **kw)
    assert sorted(parameter_shapes(latte_config("Latte-Nano/2", **kw))) == sorted(p.shape for p in model.parameters())


@pytest.mark.parametrize("name,kw", [("Latte-XL/2", dict(num_classes=101)), ("Latte-S/2", dict()),
                                     ("Latte-B/4", dict(variant=3, num_classes=10)),
                                     ("Latte-L/2", dict(conditioning="tokens", temporal_pe="rope"))])
def test_weights_grads_adamw_ema_bytes_are_exact_on_the_meta_device(name, kw):
    cfg = latte_config(name, num_frames=16, input_size=32, **kw)
    with torch.device("meta"):                        # full size, no memory used
        model = create_latte(name, num_frames=16, input_size=32, **kw)
    ema = copy.deepcopy(model)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    opt.step()                                        # creates exp_avg, exp_avg_sq and a step scalar per tensor
    assert measure_training_state_bytes(model, opt, ema) == training_state_bytes(cfg)
    assert parameter_count(cfg) == count_parameters(model)


def test_paper_parameter_counts():
    # The official Latte model's counts (Vchitect/Latte models/latte.py): 16 frames, 32x32x4 latents, learned sigma, unconditional.
    counts = {"S": 32_480_672, "B": 129_547_040, "L": 456_815_648, "XL": 673_681_568}
    for size, count in counts.items():
        assert parameter_count(latte_config(f"Latte-{size}/2", num_frames=16, input_size=32)) == count


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("checkpointing", [False, True])
@pytest.mark.parametrize("kw", [dict(), dict(variant=2, num_classes=5), dict(patch_embedding="compression",
                                                                             tubelet_stride=2),
                                dict(num_classes=3, num_images=2)])
def test_activation_estimate_matches_saved_tensor_hooks(precision, checkpointing, kw):
    kw = dict(kw)
    num_images = kw.pop("num_images", 0)
    B, F, S = 2, 4, 8
    model = create_latte("Latte-Nano/2", hidden_size=64, depth=4, num_heads=4, num_frames=F, input_size=S, **kw)
    model.train().gradient_checkpointing = checkpointing
    x, t = torch.randn(B, F + num_images, 4, S, S), torch.tensor([1, 2])
    y = torch.tensor([0, 1]) if model.config.num_classes else None
    y_images = torch.tensor([[1, 2], [0, 1]]) if num_images else None

    def forward():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            model(x, t, y, num_images=num_images, y_images=y_images)

    measured = measure_saved_bytes(forward, exclude=(model,))
    estimate = activation_bytes(model.config, B, precision, num_images, checkpointing)["saved"]
    assert estimate == pytest.approx(measured, rel=0.01)


def test_checkpointing_saves_much_less_and_bf16_less_than_fp32():
    cfg = latte_config("Latte-XL/2", num_frames=16, input_size=32)
    full = activation_bytes(cfg, 1)["saved"]
    assert activation_bytes(cfg, 1, checkpointing=True)["peak"] < full / 5
    assert activation_bytes(cfg, 1, "bf16")["saved"] < 0.75 * full    # weights are cast copies too
    assert activation_bytes(cfg, 2)["saved"] == pytest.approx(2 * full, rel=0.01)


def test_fsdp_shards_state_and_ddp_does_not():
    cfg = latte_config("Latte-XL/2", num_frames=16, input_size=32)
    ddp = memory_per_gpu(cfg, 2, num_gpus=8, strategy="ddp")
    fsdp = memory_per_gpu(cfg, 2, num_gpus=8, strategy="fsdp")
    assert ddp.parts["weights"] == 4 * parameter_count(cfg)
    assert fsdp.parts["weights"] == pytest.approx(4 * parameter_count(cfg) / 8, rel=0.01)
    assert fsdp.parts["ema"] == ddp.parts["ema"]      # the EMA is a full copy on every process
    assert fsdp.total < ddp.total
    assert memory_per_gpu(cfg, 2, num_gpus=1, strategy="fsdp").total == memory_per_gpu(cfg, 2).total


def test_official_fp32_batch_fits_80gb_and_recommended_batches_grow_with_the_card():
    # The official recipe: fp32, no checkpointing, DDP, local batch 5 on 80 GB cards.
    cfg = latte_config("Latte-XL/2", num_frames=16, input_size=32, num_classes=101)
    assert memory_per_gpu(cfg, 5, num_gpus=8, strategy="ddp", precision="fp32").total < 80 * GiB
    b40 = max_batch_per_gpu(cfg, 40, num_gpus=8, strategy="ddp", precision="bf16")
    b80 = max_batch_per_gpu(cfg, 80, num_gpus=8, strategy="ddp", precision="bf16")
    assert 1 <= b40 < b80
    assert max_batch_per_gpu(cfg, 80, num_gpus=8, strategy="ddp", precision="bf16", checkpointing=True) > b80


def test_paper_table_lists_every_paper_config():
    table = paper_table()
    for name in ("paper-ucf101", "paper-ucf101-img", "paper-ffs", "paper-sky", "paper-taichi-img"):
        assert f"| {name} |" in table


def test_bad_arguments_are_one_line_value_errors():
    cfg = latte_config("Latte-S/2")
    with pytest.raises(ValueError, match="strategy='zero3' is not one of ddp, fsdp"):
        memory_per_gpu(cfg, 1, strategy="zero3")
    with pytest.raises(ValueError, match="precision='fp16' is not one of fp32, bf16"):
        activation_bytes(cfg, 1, precision="fp16")
    with pytest.raises(ValueError, match="batch_size=0 must be a positive integer"):
        activation_bytes(cfg, 0)
    with pytest.raises(ValueError, match="num_gpus=0"):
        memory_per_gpu(cfg, 1, num_gpus=0)
    with pytest.raises(ValueError, match="activation model covers variant 1 or 2"):
        activation_bytes(latte_config("Latte-S/2", variant=3), 1)

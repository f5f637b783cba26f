"""Checkpoint interop: official Latte layout in and out, DiT initialisation, safe loading."""
import pickle

import pytest
import torch
from safetensors.torch import save_file

from conftest import assert_same_up_to_rounding, randomize_
from minilatte.convert import export_official_latte, init_from_dit, load_official_latte, official_config
from minilatte.models import create_latte

F, S = 4, 8

# The key layout of the official Latte code for a class-conditional model with 4 blocks.
OFFICIAL_KEYS = (
    {"pos_embed", "temp_embed", "x_embedder.proj.weight", "x_embedder.proj.bias",
     "t_embedder.mlp.0.weight", "t_embedder.mlp.0.bias", "t_embedder.mlp.2.weight", "t_embedder.mlp.2.bias",
     "y_embedder.embedding_table.weight", "final_layer.linear.weight", "final_layer.linear.bias",
     "final_layer.adaLN_modulation.1.weight", "final_layer.adaLN_modulation.1.bias"}
    | {f"blocks.{i}.{name}.{p}" for i in range(4) for p in ("weight", "bias")
       for name in ("attn.qkv", "attn.proj", "mlp.fc1", "mlp.fc2", "adaLN_modulation.1")}
)


def official_model(**kw):
    kw = {"num_frames": F, "input_size": S, "num_classes": 7, "depth": 4, **kw}
    return randomize_(create_latte("Latte-S/4", **kw)).eval()


def test_export_uses_the_official_key_layout():
    state = export_official_latte(official_model())
    assert set(state) == OFFICIAL_KEYS
    assert state["pos_embed"].shape == (1, 4, 384) and state["temp_embed"].shape == (1, F, 384)
    assert state["y_embedder.embedding_table.weight"].shape == (8, 384)   # 7 classes + null class


@pytest.mark.parametrize("wrapper", ["ema", "model", None])
def test_round_trip_through_an_official_checkpoint_file(tmp_path, wrapper):
    model = official_model()
    state = export_official_latte(model)
    state = {f"module.{k}": v for k, v in state.items()} if wrapper == "model" else state   # DDP prefix
    path = tmp_path / "0100000.pt"
    torch.save({wrapper: state, "opt": {}} if wrapper else state, path)
    loaded = load_official_latte(path).eval()
    assert loaded.config == model.config
    x, t, y = torch.randn(2, F, 4, S, S), torch.tensor([3, 700]), torch.tensor([1, 6])
    with torch.no_grad():
        assert torch.equal(loaded(x, t, y), model(x, t, y))
        yc = torch.tensor([1, 7])
        assert torch.equal(loaded.forward_with_cfg(x, t, yc, 7.0), model.forward_with_cfg(x, t, yc, 7.0))
        xi, yi = torch.randn(2, F + 3, 4, S, S), torch.tensor([[0, 1, 2], [3, 4, 5]])
        assert torch.equal(loaded(xi, t, y, num_images=3, y_images=yi), model(xi, t, y, num_images=3, y_images=yi))


def test_safetensors_and_inferred_config(tmp_path):
    model = official_model(num_classes=0, learn_sigma=False, depth=6)
    save_file(export_official_latte(model), tmp_path / "latte.safetensors")
    cfg = official_config(export_official_latte(model))
    assert (cfg.depth, cfg.num_heads, cfg.num_classes, cfg.learn_sigma, cfg.num_frames, cfg.input_size) == (6, 6, 0, False, F, S)
    loaded = load_official_latte(tmp_path / "latte.safetensors")
    x, t = torch.randn(1, F, 4, S, S), torch.tensor([10])
    assert torch.equal(loaded.eval()(x, t), model(x, t))


def test_wrong_position_table_or_shape_is_rejected():
    state = export_official_latte(official_model())
    bad = dict(state, temp_embed=state["temp_embed"] + 1)
    with pytest.raises(ValueError, match="temp_embed is not the fixed sin-cos table"):
        load_official_latte(bad)
    with pytest.raises(ValueError, match="missing keys"):
        load_official_latte({k: v for k, v in state.items() if "blocks.3.attn.qkv" not in k})
    with pytest.raises(ValueError, match="not an official Latte checkpoint"):
        load_official_latte({"foo": torch.zeros(1)})


class _Exploit:
    def __reduce__(self):
        return (print, ("pickled code ran",))


def test_loading_never_executes_pickled_code(tmp_path):
    path = tmp_path / "evil.pt"
    with open(path, "wb") as f:
        pickle.dump({"ema": _Exploit()}, f, protocol=2)
    with pytest.raises(ValueError, match="evil.pt holds pickled Python objects beyond tensors; minilatte never executes"):
        load_official_latte(path)                  # refused in one line, the exploit never run


def test_only_official_choices_export():
    with pytest.raises(ValueError, match="only variant=1"):
        export_official_latte(official_model(variant=2))


def dit_state(model):
    """A DiT-layout state dict with the same width: blocks, embedders, final layer, label table, pos table."""
    state = {k: v for k, v in export_official_latte(model).items() if k not in ("temp_embed",)}
    state["y_embedder.embedding_table.weight"] = torch.randn(1001, 384)
    return {k: torch.randn_like(v) if k != "pos_embed" else v for k, v in state.items()}


def test_init_from_dit_copies_spatial_parts_and_drops_labels():
    dit = dit_state(official_model(num_classes=0))
    model = create_latte("Latte-S/4", num_frames=F, input_size=S, num_classes=7, depth=4)
    table_before = model.y_embedder.embedding_table.weight.clone()
    report = init_from_dit(model, {"ema": dit})
    assert torch.equal(model.blocks[0].attn.qkv.weight, dit["blocks.0.attn.qkv.weight"])
    assert torch.equal(model.blocks[1].mlp.fc2.bias, dit["blocks.1.mlp.fc2.bias"])   # official: block i <- block i
    assert torch.equal(model.x_embedder.proj.weight, dit["x_embedder.proj.weight"])
    assert torch.equal(model.y_embedder.embedding_table.weight, table_before)
    assert report["skipped"] == ["pos_embed", "y_embedder.embedding_table.weight"]


def test_init_from_dit_inflates_tubelets_so_a_still_video_gives_dit_tokens():
    dit = dit_state(official_model(num_classes=0))
    model = create_latte("Latte-S/4", num_frames=F, input_size=S, depth=4, patch_embedding="compression",
                         tubelet_stride=2)
    init_from_dit(model, dit)
    frame = torch.randn(1, 1, 4, S, S)
    still = frame.expand(1, F, 4, S, S)
    dit_tokens = torch.nn.functional.conv2d(frame[:, 0], dit["x_embedder.proj.weight"], dit["x_embedder.proj.bias"], stride=4)
    ours = model.x_embedder(still)                                    # (1, F/2, N, D)
    assert_same_up_to_rounding(ours[0, 0], dit_tokens.flatten(2)[0].T)


def test_init_from_dit_variant_3_and_mismatch():
    dit = dit_state(official_model(num_classes=0))
    model = create_latte("Latte-S/4", num_frames=F, input_size=S, depth=4, variant=3)
    init_from_dit(model, dit)
    assert torch.equal(model.blocks[2].attn_temporal.qkv.weight, dit["blocks.2.attn.qkv.weight"])
    with pytest.raises(ValueError, match="does not fit the model"):
        init_from_dit(create_latte("Latte-B/4", num_frames=F, input_size=S, depth=2), dit)

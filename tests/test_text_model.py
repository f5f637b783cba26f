"""The text-conditioned Latte (conditioning="text"): config, padded captions, caption dropout, guidance, images."""
import pytest
import torch

from conftest import assert_same_up_to_rounding, randomize_
from minilatte.models import Latte, LatteConfig

B, F, S, C, L, C_TEXT = 2, 4, 8, 4, 6, 12


def text_config(**kw):
    return LatteConfig(**{"input_size": S, "num_frames": F, "in_channels": C, "patch_size": 2, "hidden_size": 32,
                          "depth": 4, "num_heads": 4, "conditioning": "text", "text_dim": C_TEXT, **kw})


def text_model(**kw):
    return randomize_(Latte(text_config(**kw)), 0.2).eval()


def inputs(frames=F):
    return torch.randn(B, frames, C, S, S), torch.tensor([3, 700]), torch.randn(B, L, C_TEXT)


@pytest.mark.parametrize("kw, message", [
    (dict(text_dim=0), "conditioning='text' needs text_dim >= 1"),
    (dict(conditioning="s-adaln"), "text_dim > 0 needs conditioning='text'"),
    (dict(text_dim=-1), "text_dim=-1 must be an integer >= 0"),
    (dict(text_dim=True), "text_dim=True must be an integer >= 0"),
    (dict(num_classes=5), "num_classes=5 with conditioning='text'"),
    (dict(variant=3), "variant=3 with conditioning='text'"),
])
def test_config_rejects_inconsistent_text_settings(kw, message):
    with pytest.raises(ValueError, match=message.replace("(", "\\(").replace(")", "\\)")):
        text_config(**kw)


def test_a_new_text_model_outputs_zero_and_has_pixart_parts():
    model = Latte(text_config())
    x, t, text = inputs()
    assert torch.equal(model(x, t, text=text), torch.zeros(B, F, 2 * C, S, S))
    spatial, temporal = model.blocks[0], model.blocks[1]
    assert spatial.cross_attn is not None and temporal.cross_attn is None
    assert torch.equal(spatial.cross_attn.proj.weight, torch.zeros(32, 32))       # cross-attention starts off
    assert model.t_block[1].weight.shape == (6 * 32, 32) and spatial.scale_shift_table.shape == (6, 32)
    assert not any("adaLN_modulation" in k for k in model.state_dict())          # one shared t_block only


@pytest.mark.parametrize("variant, temporal_pe", [(1, "absolute"), (2, "rope")])
def test_padded_caption_tokens_have_no_effect(variant, temporal_pe):
    """Masked tokens are out of the softmax: whatever they hold, the output is that of the unpadded caption."""
    model = text_model(variant=variant, temporal_pe=temporal_pe)
    x, t, text = inputs()
    keep = torch.tensor([3, 5])
    mask = torch.arange(L)[None] < keep[:, None]                                  # (B, L): True = caption token
    garbage = torch.where(mask[..., None], text, 100 * torch.randn_like(text))
    with torch.no_grad():
        out = model(x, t, text=text, text_mask=mask)
        assert_same_up_to_rounding(model(x, t, text=garbage, text_mask=mask), out)
        for i in range(B):     # each sample alone, its caption cut to its real tokens
            alone = model(x[i:i + 1], t[i:i + 1], text=text[i:i + 1, :keep[i]])
            assert_same_up_to_rounding(alone, out[i:i + 1])
        assert not torch.allclose(model(x, t, text=garbage), out, atol=1e-3)    # without the mask they count


def test_the_caption_changes_the_output_of_every_frame():
    model = text_model()
    x, t, text = inputs()
    with torch.no_grad():
        diff = (model(x, t, text=text) - model(x, t, text=text.flip(0))).abs().amax(dim=(2, 3, 4))
    assert (diff > 1e-3).all()


def test_images_only_is_every_frame_an_independent_image():
    """num_images = F: no temporal mixing, so each frame's output is that frame's output alone."""
    model = text_model()
    x, t, text = inputs()
    with torch.no_grad():
        out = model(x, t, text=text, num_images=F)
        for f in (0, F - 1):
            alone = model(x[:, f:f + 1], t, text=text, num_images=1)
            assert_same_up_to_rounding(alone, out[:, f:f + 1])
        assert not torch.allclose(model(x, t, text=text), out, atol=1e-3)


def test_caption_dropout_gives_the_null_caption():
    model = text_model(class_dropout_prob=0.5)
    x, t, text = inputs()
    mask = torch.ones(B, L, dtype=torch.bool)
    mask[0, 2:] = False
    null, null_mask = model.null_caption(text, mask)
    assert torch.equal(null, torch.zeros_like(text)) and null_mask.all()
    tokens, dropped_mask = model.y_embedder(text, mask, force_drop=torch.tensor([True, False]))
    assert_same_up_to_rounding(tokens[0], model.y_embedder.y_proj(torch.zeros(L, C_TEXT)))   # the batch against
    assert_same_up_to_rounding(tokens[1], model.y_embedder.y_proj(text[1])) and dropped_mask.all()   # one sample
    model.train()
    torch.manual_seed(1)
    drops = [model.y_embedder(text, mask)[1][0].all().item() for _ in range(200)]
    assert 70 < sum(drops) < 130                                                  # about half dropped


def test_guidance_over_text():
    model = text_model()
    x, t, text = inputs()
    null, _ = model.null_caption(text)
    x2, t2, text2 = torch.cat([x, x]), torch.cat([t, t]), torch.cat([text, null])
    with torch.no_grad():
        cond, uncond = model(x, t, text=text), model(x, t, text=null)
        guided = model.forward_with_cfg(x2, t2, None, 3.0, text=text2)
        assert_same_up_to_rounding(guided[:B, :, :C], uncond[:, :, :C] + 3.0 * (cond[:, :, :C] - uncond[:, :, :C]))
        assert_same_up_to_rounding(guided[:B, :, C:], cond[:, :, C:])      # variance channels pass through
    with pytest.raises(TypeError, match="unexpected argument\\(s\\) y_images; allowed for a text model"):
        model.forward_with_cfg(x2, t2, None, 3.0, text=text2, y_images=torch.zeros(2 * B, 1))


@pytest.mark.parametrize("kw, error, message", [
    (dict(), ValueError, "text \\(caption embeddings \\(B, L, 12\\)\\) is required"),
    (dict(text=torch.randn(B, L, 5)), ValueError, "text must have shape \\(B, L, text_dim\\)"),
    (dict(text=torch.randn(B, L, C_TEXT).long()), TypeError, "text must have a floating dtype"),
    (dict(text=torch.randn(B, L, C_TEXT), text_mask=torch.ones(B, L)), TypeError, "text_mask must be a bool tensor"),
    (dict(text=torch.randn(B, L, C_TEXT), text_mask=torch.ones(B, L - 1, dtype=torch.bool)), ValueError,
     "text_mask must have shape"),
    (dict(text=torch.randn(B, L, C_TEXT), text_mask=torch.zeros(B, L, dtype=torch.bool)), ValueError,
     "masks every token of a caption"),
    (dict(text=torch.randn(B, L, C_TEXT), y=torch.tensor([0, 1])), ValueError, "model is unconditional"),
])
def test_bad_text_inputs_are_named(kw, error, message):
    model = text_model()
    x, t, _ = inputs()
    with pytest.raises(error, match=message):
        model(x, t, **kw)


def test_text_given_to_a_model_without_text_is_refused():
    model = Latte(LatteConfig(input_size=S, num_frames=F, in_channels=C, patch_size=2, hidden_size=32, depth=2,
                              num_heads=4))
    x, t, text = inputs()
    with pytest.raises(ValueError, match="captions need conditioning='text'"):
        model(x, t, text=text)
    with pytest.raises(ValueError, match="num_images=4 must be in \\[0, 3\\]"):   # images only: text models only
        model(x, t, num_images=F)


def test_gradient_checkpointing_gives_the_same_gradients():
    model = text_model().train()
    x, t, text = inputs()
    mask = torch.ones(B, L, dtype=torch.bool)
    mask[1, 4:] = False
    grads = []
    for flag in (False, True):
        model.gradient_checkpointing = flag
        model.zero_grad()
        torch.manual_seed(0)    # the same caption dropout draws
        model(x, t, text=text, text_mask=mask).square().mean().backward()
        grads.append([p.grad.clone() for p in model.parameters()])
    for a, b in zip(*grads):
        assert_same_up_to_rounding(a, b)
    assert model.blocks[0].cross_attn.kv_linear.weight.grad.abs().sum() > 0


def test_summary_of_a_text_model():
    from minilatte.summary import forward_check, summarize
    model = Latte(text_config())
    text = summarize(model)
    assert "conditioning text" in text and "captions of 12 channels" in text and "y_embedder" in text
    assert "max |output| = 0.0" in forward_check(model, batch_size=2)

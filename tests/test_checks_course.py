"""Checkers of notebooks 07, 08 and 10: each accepts the reference solution and rejects a plausible mistake
with a message that says what is wrong."""
import pytest
import torch
from einops import repeat

from minilatte.checks.joint import check_frame_labels, check_influence_mask
from minilatte.checks.scaling import check_attention_flops, check_block_parameters
from minilatte.checks.training import check_adamw_step, check_ema_init_weight, check_x0_from_prediction
from minilatte.train import ema_decay


# ---------------------------------------------------------------- 07 training
def ema_init_weight(num_steps, decay, warmup):
    weight = 1.0
    for k in range(num_steps):
        weight *= ema_decay(k, decay, warmup)
    return weight


def adamw_step(param, grad, exp_avg, exp_avg_sq, step, lr, betas, eps, weight_decay, decoupled=True):
    beta1, beta2 = betas
    if decoupled:
        param = param * (1 - lr * weight_decay)
    else:                                    # Adam with L2 regularisation, not AdamW
        grad = grad + weight_decay * param
    exp_avg = beta1 * exp_avg + (1 - beta1) * grad
    exp_avg_sq = beta2 * exp_avg_sq + (1 - beta2) * grad * grad
    m_hat, v_hat = exp_avg / (1 - beta1 ** step), exp_avg_sq / (1 - beta2 ** step)
    return param - lr * m_hat / (v_hat.sqrt() + eps), exp_avg, exp_avg_sq


def x0_from_prediction(x_t, prediction, alpha_bar, kind, swap=False):
    ab = alpha_bar.view(-1, 1, 1, 1, 1)
    if (kind == "epsilon") != swap:
        return (x_t - (1 - ab).sqrt() * prediction) / ab.sqrt()
    return ab.sqrt() * x_t - (1 - ab).sqrt() * prediction


def test_training_checkers_accept_the_reference(capsys):
    check_ema_init_weight(ema_init_weight)
    check_adamw_step(adamw_step)
    check_x0_from_prediction(x0_from_prediction)
    assert capsys.readouterr().out.count("✓") == 3


def test_ema_init_weight_rejects_ignoring_the_warmup():
    with pytest.raises(AssertionError, match="warmup=True the early decays"):
        check_ema_init_weight(lambda n, decay, warmup: decay ** n)


def test_ema_init_weight_rejects_starting_at_step_one():
    def from_one(n, decay, warmup):
        return ema_init_weight(n + 1, decay, warmup) / (min(decay, 0.1) if warmup else decay)
    with pytest.raises(AssertionError, match="first update has k = 0"):
        check_ema_init_weight(from_one)


def test_adamw_step_rejects_l2_regularisation():
    with pytest.raises(AssertionError, match="Adam with L2 regularisation"):
        check_adamw_step(lambda *args: adamw_step(*args, decoupled=False))


def test_adamw_step_rejects_a_missing_tuple():
    with pytest.raises(AssertionError, match=r"return \(param, exp_avg, exp_avg_sq\)"):
        check_adamw_step(lambda *args: adamw_step(*args)[0])


def test_x0_from_prediction_rejects_the_epsilon_formula_for_velocity():
    with pytest.raises(AssertionError, match="that is the ε formula"):
        check_x0_from_prediction(lambda *args: x0_from_prediction(*args[:3], "epsilon"))


def test_x0_from_prediction_rejects_an_unbroadcast_alpha_bar():
    with pytest.raises(AssertionError, match="x0_from_prediction raised RuntimeError"):
        check_x0_from_prediction(lambda x_t, pred, ab, kind: (x_t - (1 - ab).sqrt() * pred) / ab.sqrt())


# ---------------------------------------------------------------- 08 joint training
def influence_mask(n_video, num_images):
    mask = torch.eye(n_video + num_images, dtype=torch.bool)
    mask[:n_video, :n_video] = True
    return mask


def frame_labels(y, y_images, n_video):
    return torch.cat([repeat(y, "b -> b f", f=n_video), y_images], dim=1)


def test_joint_checkers_accept_the_reference(capsys):
    check_influence_mask(influence_mask)
    check_frame_labels(frame_labels)
    assert capsys.readouterr().out.count("✓") == 2


def test_influence_mask_rejects_images_that_see_the_video():
    def leaky(n_video, num_images):
        return torch.ones(n_video + num_images, n_video + num_images, dtype=torch.bool)
    with pytest.raises(AssertionError, match=r"entry \[0, 3\] \(output video frame 0, input image frame 3\)"):
        check_influence_mask(leaky)


def test_influence_mask_rejects_a_wrong_shape():
    with pytest.raises(AssertionError, match="shape"):
        check_influence_mask(lambda n_video, num_images: torch.eye(n_video, dtype=torch.bool))


def test_frame_labels_rejects_images_first():
    with pytest.raises(AssertionError, match="frame 0 gets another label"):
        check_frame_labels(lambda y, y_images, n: torch.cat([y_images, repeat(y, "b -> b f", f=n)], dim=1))


def test_frame_labels_rejects_the_clip_label_everywhere():
    with pytest.raises(AssertionError, match="the label each kind of frame"):
        check_frame_labels(lambda y, y_images, n: repeat(y, "b -> b f", f=n + y_images.shape[1]))


# ---------------------------------------------------------------- 10 scaling
def block_parameters(D, mlp_ratio):
    H = int(D * mlp_ratio)
    return (3 * D * D + 3 * D) + (D * D + D) + (D * H + H) + (H * D + D) + (6 * D * D + 6 * D)


def attention_flops(num_frames, tokens_per_frame, width, axis):
    sequences, length = (num_frames, tokens_per_frame) if axis == "spatial" else (tokens_per_frame, num_frames)
    return 2 * 2 * sequences * length * length * width


def test_scaling_checkers_accept_the_reference(capsys):
    check_block_parameters(block_parameters)
    check_attention_flops(attention_flops)
    assert capsys.readouterr().out.count("✓") == 2


def test_block_parameters_rejects_a_missing_adaln():
    with pytest.raises(AssertionError, match="S-AdaLN Linear is missing"):
        check_block_parameters(lambda D, r: block_parameters(D, r) - 6 * D * D - 6 * D)


def test_block_parameters_rejects_missing_biases():
    with pytest.raises(AssertionError, match="bias"):
        check_block_parameters(lambda D, r: 4 * D * D + 2 * D * int(D * r) + 6 * D * D)


def test_attention_flops_rejects_one_matmul():
    with pytest.raises(AssertionError, match="factor 2 is missing"):
        check_attention_flops(lambda *args: attention_flops(*args) // 2)


def test_attention_flops_rejects_swapped_axes():
    def swapped(F, N, D, axis):
        return attention_flops(F, N, D, "temporal" if axis == "spatial" else "spatial")
    with pytest.raises(AssertionError, match="the count for the other axis"):
        check_attention_flops(swapped)

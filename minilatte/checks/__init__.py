"""Checkers for the notebook exercises: ``check_x(learner_object)`` prints ✓ or raises AssertionError.

Each notebook has its own module; ``core`` holds what they share (``assert_close``, ``call``,
``passed``). Add one import line per new module below.
"""
from .patch_embedding import check_patchify, check_token_count
from .attention import check_attention_mask, check_temporal_attention
from .conditioning import check_modulate, check_timestep_embedding
from .positional import check_sincos_1d, check_apply_rope
from .diffusion import check_q_sample, check_ddim_step
from .training import check_adamw_step, check_ema_init_weight, check_x0_from_prediction
from .joint import check_frame_labels, check_influence_mask
from .scaling import check_attention_flops, check_block_parameters
from .data import check_encode_frames, check_frame_indices, check_model_evaluations, check_psnr, check_to_uint8
from .evaluation import check_frechet_distance, check_mmd2_unbiased
from .ablation import check_t_interval, check_verdict

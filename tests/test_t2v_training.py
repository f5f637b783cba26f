"""Text-to-video training and sampling: configs, the trainer on captions (synthetic, cached latents, captioned
mp4 files), exact resume, sampling from prompts, prompt accuracy in eval, and the one-line errors."""
import json

import pytest
import torch

from conftest import torchrun_error
from minilatte.checkpoint import load_checkpoint
from minilatte.cli import main
from minilatte.config import ConfigError, load_config
from minilatte.data.captions import CaptionedSynthetic
from minilatte.data.synthetic import synthetic_dataset
from minilatte.sample import load_for_sampling, load_text_encoder, sample_videos
from minilatte.text_encoders import WordEncoder
from minilatte.train import build_dataset, train

TEXT = ["model.conditioning=text", "data.text_encoder=words", "train.num_sample_videos=0", "train.steps=6",
        "train.ckpt_every=3", "train.log_every=3"]
PROBE_SIZE = ["model.num_frames=8", "model.input_size=16", "data.image_size=16"]


def text_ci(*extra):
    return load_config("ci", TEXT + list(extra))


@pytest.fixture(scope="module")
def text_run(tmp_path_factory):
    """A tiny text model trained 6 steps on captioned 8x16x16 shapes (clips the probe can read)."""
    run = tmp_path_factory.mktemp("t2v") / "run"
    train(text_ci(*PROBE_SIZE, "diffusion.cfg_scale=2.0"), run, progress=False)
    return run


# ---------------------------------------------------------------- configs

@pytest.mark.parametrize("name", ["cpu-t2v", "1gpu-t2v", "paper-t2v"])
def test_packaged_text_configs_are_valid(name):
    cfg = load_config(name)
    model = cfg.latte_config()
    assert cfg.is_text and model.conditioning == "text" and model.class_dropout_prob > 0
    assert cfg.data.text_encoder == "words" or model.text_dim in (4096, 512, 768)


def test_the_paper_config_is_latte_t2v_at_full_size():
    cfg = load_config("paper-t2v")
    model = cfg.latte_config()
    assert (model.hidden_size, model.depth, model.num_heads, model.patch_size, model.text_dim) == (1152, 56, 16, 2, 4096)
    assert (model.num_frames, cfg.data.image_size, cfg.data.frame_interval, cfg.train.lr) == (16, 512, 3, 1e-4)


def test_the_word_encoder_sets_the_caption_channels_and_the_checkpoint_records_them():
    cfg = text_ci()
    assert cfg.latte_config().text_dim == WordEncoder().dim
    assert cfg.to_dict()["model"]["text_dim"] == WordEncoder().dim


@pytest.mark.parametrize("change, message", [
    (["data.text_encoder=null"], "model.conditioning='text' needs data.text_encoder"),
    (["model.conditioning=s-adaln"], "data.text_encoder='words' needs a text model"),
    (["model.text_dim=7"], "model.text_dim=7 but data.text_encoder='words' gives 59"),
    (["data.text_encoder=/nowhere/t5"], "model.text_dim must be given"),
    (["data.dataset=folder", "data.root=videos"], "must be the .csv or .jsonl index"),
    (["model.class_dropout_prob=0", "diffusion.cfg_scale=2"], "needs label (or caption) dropout"),
    (["data.num_images=2"], "joint image-video training of a text model is not built"),
])
def test_bad_text_settings_are_one_line_config_errors(change, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")) as err:
        text_ci(*change)
    assert "\n" not in str(err.value)


# ---------------------------------------------------------------- training

def test_a_text_run_trains_checkpoints_and_records_its_encoder(text_run):
    saved = load_checkpoint(text_run / "checkpoints" / "step_0000006")
    assert saved["state"]["step"] == 6 and saved["config"]["data"]["text_encoder"] == "words"
    model, cfg = load_for_sampling(text_run)
    assert model.config.conditioning == "text" and isinstance(load_text_encoder(cfg), WordEncoder)


def test_resume_of_a_text_run_is_exact(tmp_path):
    fp32 = "train.mixed_precision=fp32"            # both runs: auto would time bf16 for each run apart
    straight = train(text_ci(fp32), tmp_path / "a", progress=False)
    train(text_ci(fp32, "train.steps=3"), tmp_path / "b", progress=False)
    resumed = train(text_ci(fp32), tmp_path / "b", resume=True, progress=False)
    assert resumed.final_loss == straight.final_loss
    a, b = load_checkpoint(straight.checkpoint), load_checkpoint(resumed.checkpoint)
    assert all(torch.equal(a["ema"][k], b["ema"][k]) for k in a["ema"])


def test_batches_carry_the_captions_of_their_clips_also_from_the_latent_cache(tmp_path):
    cfg = load_config("ci", ["model.conditioning=text", "data.text_encoder=words", "model.in_channels=4",
                             "data.image_size=32", "data.vae=data_samples/tiny-vae", "data.length=8",
                             f"data.latent_cache={tmp_path / 'cache'}"])
    from minilatte.latent_cache import build_latent_cache
    from minilatte.train import clip_dataset
    from minilatte.vae import LatentCodec
    build_latent_cache(clip_dataset(cfg), LatentCodec.from_pretrained(cfg.data.vae), cfg.data.vae,
                       cfg.data.latent_cache, progress=False)
    cached = build_dataset(cfg)
    captions = CaptionedSynthetic(synthetic_dataset("shapes", num_frames=4, image_size=32, length=8))
    assert [cached[i]["caption"] for i in range(8)] == [captions.caption(i) for i in range(8)]
    assert cached[3]["video"].shape == (4, 4, 8, 8)


def test_the_cli_trains_a_text_model_and_samples_from_prompts(tmp_path, capsys):
    run, gif = tmp_path / "run", tmp_path / "s.gif"
    args = sum((["--set", s] for s in TEXT), [])
    assert main(["train", "--config", "ci", *args, "--out", str(run), "--no-progress"]) == 0
    assert main(["sample", "--checkpoint", str(run), "--prompt", "a red square moving up", "--prompt",
                 "a circle, blue, drifting east", "--num-videos", "2", "--steps", "2", "--out", str(gif)]) == 0
    assert gif.is_file()


# ---------------------------------------------------------------- sampling

def test_sampling_from_prompts_is_deterministic_per_seed_and_follows_the_prompt(text_run):
    model, cfg = load_for_sampling(text_run)
    encoder = load_text_encoder(cfg)
    prompts = ["a red square moving up", "a green triangle drifting west"]

    def draw(seed, prompts=prompts):
        return sample_videos(model, cfg.diffusion, 2, prompts=prompts, text_encoder=encoder, steps=3, seed=seed,
                             progress=False)

    first = draw(0)
    assert first.shape == (2, 8, 3, 16, 16) and torch.equal(first, draw(0))
    assert not torch.equal(first, draw(1))
    assert not torch.equal(first, draw(0, prompts[::-1]))       # same noise, other captions


def test_prompt_errors_are_one_line(text_run, tmp_path, capsys):
    model, cfg = load_for_sampling(text_run)
    with pytest.raises(ValueError, match="does not know 'purple', 'dog'; a prompt may use these 57 words: 0 1 2"):
        sample_videos(model, cfg.diffusion, 1, prompts=["a purple dog moving up"], text_encoder=load_text_encoder(cfg),
                      progress=False)
    with pytest.raises(ValueError, match="prompts are required"):
        sample_videos(model, cfg.diffusion, 1, progress=False)
    with pytest.raises(ValueError, match="labels given but the model is a text-to-video model"):
        sample_videos(model, cfg.diffusion, 1, labels=torch.tensor([0]), progress=False)
    out = str(tmp_path / "s.gif")
    assert main(["sample", "--checkpoint", str(text_run), "--prompt", "a purple dog", "--out", out]) == 2
    assert "does not know 'purple', 'dog'" in capsys.readouterr().err
    assert main(["sample", "--checkpoint", str(text_run), "--class-label", "1", "--out", out]) == 2
    assert "--class-label needs a class-conditional model" in capsys.readouterr().err
    class_run = tmp_path / "class"
    train(load_config("ci", ["model.num_classes=3", "train.steps=1", "train.num_sample_videos=0"]), class_run,
          progress=False)
    assert main(["sample", "--checkpoint", str(class_run), "--prompt", "a red square", "--out", out]) == 2
    err = capsys.readouterr().err
    assert "--prompt needs a text-to-video model; this checkpoint is class-conditional" in err and err.count("\n") == 1


# ---------------------------------------------------------------- eval

def test_eval_reports_prompt_accuracy_with_intervals(text_run, tmp_path):
    out = tmp_path / "eval.json"
    assert main(["eval", "--checkpoint", str(text_run), "--metric", "acc,fd-probe", "--num-samples", "12",
                 "--num-resamples", "5", "--steps", "2", "--out", str(out), "--no-progress"]) == 0
    acc = json.loads(out.read_text())["metrics"]["acc"]
    assert 0 <= acc["ci_low"] <= acc["value"] <= acc["ci_high"] <= 1 and acc["interval"] == "Wilson"
    motion = acc["motion"]
    assert 0 <= motion["ci_low"] <= motion["value"] <= motion["ci_high"] <= 1 and 0 <= motion["real"] <= 1


def test_two_gloo_processes_equal_one_for_a_text_model(tmp_path):
    """Each process takes its slice of the global batch's captions, as of class labels (caption dropout
    off: like label dropout it draws per process)."""
    import os
    import subprocess
    import sys
    common = ["--config", "ci", "--no-progress", *sum((["--set", s] for s in TEXT + ["model.class_dropout_prob=0", "train.mixed_precision=fp32"]), [])]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-m", "minilatte", "train", *common, "--out", str(tmp_path / "one")],
                   check=True, env=env, capture_output=True)
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
                           "29541", "-m", "minilatte", "train", *common, "--out", str(tmp_path / "two")],
                          env=env, capture_output=True, text=True)
    assert proc.returncode == 0, torchrun_error(proc.stderr)
    one, two = (load_checkpoint(tmp_path / run / "checkpoints" / "step_0000006")["model"] for run in ("one", "two"))
    assert all(torch.allclose(one[k], two[k], atol=1e-5) for k in one)


def test_generate_clips_takes_the_prompts_in_turn_and_refuses_a_bare_string(text_run):
    from minilatte.sample import generate_clips
    model, cfg = load_for_sampling(text_run)
    with pytest.raises(ValueError, match="a list, also for one prompt"):
        generate_clips(model, cfg, 2, prompts="a red square moving up", progress=False)
    both, _ = generate_clips(model, cfg, 2, prompts=["a red square moving up"] * 2, steps=2, cfg_scale=1,
                             progress=False)
    cycled, _ = generate_clips(model, cfg, 2, prompts=["a red square moving up"], steps=2, cfg_scale=1, progress=False)
    assert torch.equal(both, cycled)

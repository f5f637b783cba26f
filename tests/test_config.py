"""Configs: packaged names load, every mistake is one line naming the key, CLI exits with 2."""
import subprocess
import sys

import pytest

from minilatte.config import ConfigError, load_config, packaged_configs


def test_every_packaged_config_loads_and_validates():
    names = packaged_configs()
    assert {"ci", "cpu", "paper-ucf101", "paper-ucf101-img", "paper-sky", "paper-ffs", "paper-taichi"} <= set(names)
    for name in names:
        cfg = load_config(name)
        cfg.latte_config()


def test_paper_configs_hold_the_official_settings():
    cfg = load_config("paper-ucf101")
    model = cfg.latte_config()
    assert (model.depth, model.hidden_size, model.patch_size, model.num_frames, model.input_size) == (28, 1152, 2, 16, 32)
    assert model.num_classes == 101 and model.learn_sigma
    assert (cfg.data.image_size, cfg.data.frame_interval) == (256, 3)
    assert (cfg.train.lr, cfg.train.weight_decay, cfg.train.ema_decay) == (1e-4, 0.0, 0.9999)
    assert (cfg.diffusion.sampler, cfg.diffusion.sampling_steps, cfg.diffusion.cfg_scale) == ("ddpm", 250, 7.0)
    assert load_config("paper-sky-img").data.num_images == 8


def test_overrides_change_single_keys():
    cfg = load_config("ci", ["train.steps=7", "model.variant=3", "diffusion.sampler=ddpm"])
    assert cfg.train.steps == 7 and cfg.latte_config().variant == 3 and cfg.diffusion.sampler == "ddpm"


@pytest.mark.parametrize("override,message", [
    (["train.stepz=3"], "train.stepz is not a setting; allowed: steps"),
    (["train.steps=many"], "train.steps='many' has the wrong type; expected int"),
    (["train.lr=true"], "train.lr=True has the wrong type; expected float"),
    (["model.input_size=12"], "data.image_size=8 must equal model input_size=12"),
    (["model.frames=3"], "model.frames is not a model setting"),
    (["model.preset=Latte-Q/2"], "model.preset='Latte-Q/2' is unknown"),
    (["model.variant=7"], "model: variant=7 is not one of 1, 2, 3, 4"),
    (["diffusion.sampler=euler"], "diffusion.sampler='euler' is not one of ddpm, ddim"),
    (["train.steps"], "override 'train.steps' must look like section.key=value"),
    (["optim.lr=1"], "optim is not a config section"),
])
def test_bad_values_name_the_key(override, message):
    with pytest.raises(ConfigError, match=message.replace("(", "\\(").replace(")", "\\)")):
        load_config("ci", override)


def test_unknown_config_name():
    with pytest.raises(ConfigError, match="config 'nope' is unknown; choose one of"):
        load_config("nope")


def test_cli_bad_input_is_one_line_and_exit_code_2(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "minilatte", "train", "--config", "ci", "--set", "train.stepz=1",
                           "--out", str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "train.stepz is not a setting" in proc.stderr
    assert "Traceback" not in proc.stderr

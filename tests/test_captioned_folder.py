"""Captioned real videos (a CSV / JSONL index of path + caption): bad rows and files skipped, and a tiny
text model trained end to end on captioned mp4 files."""
import json
import warnings

import pytest
import torch

from minilatte.data import CaptionedSynthetic, CaptionedVideoFolder, synthetic_dataset, write_video
from minilatte.diffusion import create_diffusion
from minilatte.models import Latte, LatteConfig
from minilatte.text_encoders import WordEncoder


def captioned_clips(folder, n=3, frames=10):
    """n real mp4 files of synthetic shapes; returns their (file name, caption) pairs."""
    data = CaptionedSynthetic(synthetic_dataset("shapes", num_frames=frames, image_size=16, length=n))
    rows = []
    for i in range(n):
        write_video(folder / f"clip{i}.mp4", data[i]["video"])
        rows.append((f"clip{i}.mp4", data[i]["caption"]))
    return rows


def write_csv(path, rows, header="path,caption"):
    lines = [header] + [f'{p},"{c}"' for p, c in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def build(index, **kw):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = CaptionedVideoFolder(index, **{"num_frames": 4, "frame_interval": 2, "image_size": 16, **kw})
    return data, [str(w.message) for w in caught if "skipping" in str(w.message)]


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_items_carry_their_captions(tmp_path, fmt):
    rows = captioned_clips(tmp_path)
    if fmt == "csv":
        index = write_csv(tmp_path / "captions.csv", rows)
    else:
        index = tmp_path / "captions.jsonl"
        index.write_text("\n".join(json.dumps({"path": p, "caption": c, "fps": 8}) for p, c in rows) + "\n")
    data, warned = build(index, train=False)
    assert len(data) == 3 and not warned and not data.skipped
    for i, (name, text) in enumerate(rows):
        item = data[i]
        assert item["path"] == str(tmp_path / name) and item["caption"] == text
        assert item["video"].shape == (4, 3, 16, 16) and item["label"] == 0


def test_bad_rows_and_files_are_skipped_with_one_warning_each(tmp_path):
    rows = captioned_clips(tmp_path, n=2)
    write_video(tmp_path / "short.mp4", torch.zeros(2, 3, 16, 16))
    (tmp_path / "broken.mp4").write_bytes(b"\x00" * 3000)
    rows += [("short.mp4", "too short"), ("broken.mp4", "corrupt"), ("gone.mp4", "missing file"),
             ("clip0.mp4", "listed again"), ("clip1.mp4", " ")]
    data, warned = build(write_csv(tmp_path / "captions.csv", rows))
    assert len(data) == 2 and len(warned) == 5
    reasons = " | ".join(reason for _, reason in data.skipped)
    for part in ("too short: 2 frames", "unreadable", "missing", "listed twice", "empty caption"):
        assert part in reasons


def test_jsonl_lines_that_are_not_rows_are_skipped(tmp_path):
    rows = captioned_clips(tmp_path, n=1)
    index = tmp_path / "captions.jsonl"
    index.write_text(json.dumps({"path": rows[0][0], "caption": rows[0][1]}) + "\n{oops\n[1, 2]\n\n"
                     + json.dumps({"caption": "no path"}) + "\n")
    data, warned = build(index)
    assert len(data) == 1 and len(warned) == 3


def test_bad_indexes_are_errors(tmp_path):
    captioned_clips(tmp_path, n=1)
    with pytest.raises(ValueError, match="needs a header with the columns path and caption"):
        build(write_csv(tmp_path / "a.csv", [("clip0.mp4", "x")], header="videoid,name"))
    with pytest.raises(ValueError, match="is not a .csv or .jsonl file"):
        build(tmp_path / "captions.txt")
    with pytest.raises(ValueError, match="no usable clips .* the index b.csv lists no usable video"):
        build(write_csv(tmp_path / "b.csv", [("gone.mp4", "x")]))
    with pytest.raises(TypeError, match="index must be the path of a .csv or .jsonl file"):
        CaptionedVideoFolder(3)


def test_a_captioned_folder_of_mp4_files_trains_end_to_end(tmp_path):
    """Captioned mp4 files -> word encoder -> text model -> diffusion loss -> a few optimizer steps."""
    data, _ = build(write_csv(tmp_path / "captions.csv", captioned_clips(tmp_path, n=4)), train=True)
    loader = torch.utils.data.DataLoader(data, batch_size=2, shuffle=True)
    encoder = WordEncoder()
    model = Latte(LatteConfig(input_size=16, num_frames=4, in_channels=3, patch_size=4, hidden_size=32, depth=2,
                              num_heads=4, conditioning="text", text_dim=encoder.dim)).train()
    diffusion = create_diffusion()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(3):
        for batch in loader:
            text, mask = encoder(batch["caption"])
            t = torch.randint(0, diffusion.num_timesteps, (len(text),))
            loss = diffusion.training_losses(model, batch["video"], t, {"text": text, "text_mask": mask})["loss"].mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    assert len(losses) == 6 and all(torch.isfinite(torch.tensor(losses)))
    assert model.y_embedder.y_proj.fc1.weight.grad.abs().sum() > 0      # the words reach the loss


def test_the_trainer_trains_a_text_model_on_a_captioned_folder(tmp_path):
    """data.dataset=folder with data.root = a captions index: train(), checkpoint, sample its captions."""
    from minilatte.config import load_config
    from minilatte.sample import default_prompts
    from minilatte.train import train

    rows = captioned_clips(tmp_path, n=4)
    index = write_csv(tmp_path / "captions.csv", rows)
    cfg = load_config("ci", ["model.conditioning=text", "data.text_encoder=words", "data.dataset=folder",
                             f"data.root={index}", "data.frame_interval=2", "model.input_size=16",
                             "data.image_size=16", "train.steps=2", "train.ckpt_every=2", "train.num_sample_videos=1",
                             "diffusion.sampling_steps=2"])
    result = train(cfg, tmp_path / "run", progress=False)
    assert result.step == 2 and result.samples.is_file() and torch.isfinite(torch.tensor(result.final_loss))
    assert default_prompts(cfg, 5) == [caption for _, caption in rows + rows[:1]]       # the captions in turn

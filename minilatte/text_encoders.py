"""Text encoders for text-to-video: captions (list of str) -> tokens (B, L, C_text) and mask (B, L) bool.

The text model takes what they return: ``model(x, t, text=tokens, text_mask=mask)``. Two kinds:

* ``PretrainedTextEncoder`` — a frozen T5 encoder (as Latte-T2V and PixArt-α use, T5-XXL: 4096
  channels) or CLIP text model, with its tokenizer, from a **local folder** (nothing is downloaded):
  a pipeline folder with ``text_encoder/`` and ``tokenizer/`` (the released ``maxin-cn/Latte-1``
  layout) or one folder holding both; safetensors weights only. Captions are tokenized as
  diffusers' LattePipeline does: end-of-sequence token added, padded and cut to 120 tokens for T5
  (77 for CLIP), the tokenizer's attention mask kept as ``mask``. The pipeline, given one prompt,
  cuts the caption to its real tokens; the mask does exactly that inside the model's cross-attention,
  for a batch of any size.
* ``WordEncoder`` — the CPU tier's: one one-hot vector per word of a fixed vocabulary (the synthetic
  captions' words, ``minilatte.data.captions.VOCABULARY``). It has no weights and runs in
  microseconds, and it loses nothing: the first Linear of the model's caption projection maps each
  one-hot word to a column of its weight, so that Linear *is* a learned word-embedding table, trained
  with the model. Cross-attention sees the words as a set (no positions); a synthetic caption is
  fully told by its set of words.

``text_encoder("words")`` or ``text_encoder(folder)`` builds either.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from torch import nn

from .data.captions import VOCABULARY, unreadable_characters, words

WORDS = "words"          # data.text_encoder's name for the WordEncoder
T5_MAX_LENGTH = 120      # LattePipeline.encode_prompt and PixArt-α: captions of at most 120 T5 tokens
END, UNKNOWN = "</s>", "<unk>"


class WordEncoder(nn.Module):
    """Captions -> one-hot words (B, L, V) plus an end token, padded to ``max_length``; V = vocabulary + 2.

    Words outside the vocabulary become ``<unk>``; a caption longer than ``max_length - 1`` words is
    cut (the end token stays, so every caption keeps at least one token).
    """

    def __init__(self, vocabulary: tuple[str, ...] = VOCABULARY, max_length: int = 16):
        super().__init__()
        if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 2:
            raise ValueError(f"max_length={max_length!r} must be an integer >= 2 (a word and the end token)")
        self.vocabulary = tuple(vocabulary) + (END, UNKNOWN)
        if len(set(self.vocabulary)) != len(self.vocabulary):
            raise ValueError("vocabulary has repeated words (or the special words </s>, <unk>)")
        self.index = {word: i for i, word in enumerate(self.vocabulary)}
        self.max_length = max_length

    @property
    def dim(self) -> int:
        return len(self.vocabulary)

    def unknown_words(self, captions: list[str]) -> list[str]:
        """The words of ``captions`` outside the vocabulary (which would become ``<unk>``), each once."""
        return list(dict.fromkeys(w for text in captions for w in words(text) if w not in self.index))

    def check_known(self, captions: list[str]) -> None:
        """ValueError naming the words of ``captions`` that the encoder does not know, and what it knows."""
        for text in captions:
            odd = unreadable_characters(text)
            if odd:
                raise ValueError(f"prompt {text!r} has characters the word encoder cannot read "
                                 f"({' '.join(odd)}); it reads words of letters and digits, separated by spaces "
                                 "or punctuation")
        unknown = self.unknown_words(captions)
        if unknown:
            known = [w for w in self.vocabulary if w not in (END, UNKNOWN)]
            raise ValueError(f"the word encoder does not know {', '.join(map(repr, unknown))}; a prompt may use "
                             f"these {len(known)} words: {' '.join(known)}")

    def token_ids(self, caption: str) -> list[int]:
        ids = [self.index.get(word, self.index[UNKNOWN]) for word in words(caption)]
        return ids[: self.max_length - 1] + [self.index[END]]

    def forward(self, captions: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        captions = _check_captions(captions)
        ids = torch.zeros(len(captions), self.max_length, dtype=torch.long)
        mask = torch.zeros(len(captions), self.max_length, dtype=torch.bool)
        for row, text in enumerate(captions):
            tokens = self.token_ids(text)
            ids[row, :len(tokens)], mask[row, :len(tokens)] = torch.tensor(tokens), True
        onehot = nn.functional.one_hot(ids, self.dim).float() * mask[..., None]    # padding: zero vectors
        return onehot, mask


class PretrainedTextEncoder(nn.Module):
    """A frozen T5 encoder or CLIP text model and its tokenizer, from a local folder (see the module doc)."""

    def __init__(self, folder: str | os.PathLike, max_length: int | None = None, dtype: torch.dtype = torch.float32):
        super().__init__()
        from transformers import AutoConfig, AutoTokenizer, CLIPTextModel, T5EncoderModel

        model_dir, tokenizer_dir = _encoder_folders(Path(folder))
        kind = AutoConfig.from_pretrained(model_dir, local_files_only=True).model_type
        classes = {"t5": T5EncoderModel, "clip_text_model": CLIPTextModel}
        if kind not in classes:
            raise ValueError(f"{str(model_dir)!r} holds a {kind!r} model; a text encoder is 't5' or 'clip_text_model'")
        if not any(model_dir.glob("*.safetensors")):
            raise ValueError(f"{str(model_dir)!r} has no safetensors weights; only safetensors are read "
                             "(a pickled .bin file can run code)")
        self.kind = kind
        self.tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir, local_files_only=True)
        self.model = classes[kind].from_pretrained(model_dir, local_files_only=True, use_safetensors=True,
                                                   dtype=dtype).eval().requires_grad_(False)
        self.max_length = max_length or (T5_MAX_LENGTH if kind == "t5" else self.tokenizer.model_max_length)

    @property
    def dim(self) -> int:
        return self.model.config.d_model if self.kind == "t5" else self.model.config.hidden_size

    @torch.no_grad()
    def forward(self, captions: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        captions = _check_captions(captions)
        batch = self.tokenizer(captions, padding="max_length", max_length=self.max_length, truncation=True,
                               add_special_tokens=True, return_attention_mask=True, return_tensors="pt")
        device = next(self.model.parameters()).device
        ids, mask = batch.input_ids.to(device), batch.attention_mask.to(device)
        return self.model(ids, attention_mask=mask)[0], mask.bool()


def text_encoder(name_or_folder: str | os.PathLike, **kwargs) -> nn.Module:
    """``"words"``: the CPU tier's WordEncoder; a folder: a PretrainedTextEncoder (T5 or CLIP)."""
    if name_or_folder == WORDS:
        return WordEncoder(**kwargs)
    return PretrainedTextEncoder(name_or_folder, **kwargs)


def text_encoder_dim(name_or_folder: str | os.PathLike) -> int | None:
    """Caption channels of ``text_encoder(name_or_folder)`` without loading weights; None for a folder
    that is not on this machine (or has no readable config.json)."""
    if name_or_folder == WORDS:
        return WordEncoder().dim
    try:
        model_dir, _ = _encoder_folders(Path(name_or_folder))
        config = json.loads((model_dir / "config.json").read_text())
    except (OSError, ValueError):
        return None
    dim = config.get("d_model", config.get("hidden_size"))
    return dim if isinstance(dim, int) else None


def _encoder_folders(folder: Path) -> tuple[Path, Path]:
    """(model folder, tokenizer folder): ``text_encoder/`` and ``tokenizer/`` of a pipeline, or ``folder`` twice."""
    if (folder / "text_encoder" / "config.json").is_file():
        if not (folder / "tokenizer").is_dir():
            raise FileNotFoundError(f"{str(folder)!r} has text_encoder/ but no tokenizer/")
        return folder / "text_encoder", folder / "tokenizer"
    if (folder / "config.json").is_file():
        return folder, folder
    raise FileNotFoundError(f"{str(folder)!r} holds no text encoder: neither text_encoder/config.json "
                            "nor config.json")


def _check_captions(captions) -> list[str]:
    if isinstance(captions, str) or not isinstance(captions, (list, tuple)) or not captions \
            or not all(isinstance(c, str) for c in captions):
        raise TypeError("captions must be a non-empty list of str (one caption per sample)")
    return list(captions)

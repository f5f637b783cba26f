"""Text encoders: the CPU tier's word encoder, and T5 / CLIP text models from local folders (tiny, random)."""
import pytest
import torch

from conftest import assert_same_up_to_rounding
from minilatte.data.captions import VOCABULARY
from minilatte.models import Latte, LatteConfig
from minilatte.text_encoders import T5_MAX_LENGTH, PretrainedTextEncoder, WordEncoder, text_encoder

transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

WORDS = ["a", "red", "triangle", "moving", "up", "and", "to", "the", "left"]


def word_tokenizer(specials, template, model_max_length):
    """A tokenizer from a local word list (no download): words split on white space, ``template`` added."""
    vocab = {w: i for i, w in enumerate(specials + WORDS)}
    tok = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab, unk_token=specials[-1]))
    tok.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    tok.post_processor = tokenizers.processors.TemplateProcessing(
        single=template, special_tokens=[(s, vocab[s]) for s in specials if s in template])
    return transformers.PreTrainedTokenizerFast(tokenizer_object=tok, pad_token=specials[0], unk_token=specials[-1],
                                                model_max_length=model_max_length), len(vocab)


@pytest.fixture
def t5_pipeline(tmp_path):
    """A pipeline folder as the released Latte-1: text_encoder/ (T5EncoderModel) and tokenizer/."""
    tokenizer, size = word_tokenizer(["<pad>", "</s>", "<unk>"], "$A </s>", 512)
    tokenizer.save_pretrained(tmp_path / "tokenizer")
    config = transformers.T5Config(vocab_size=size, d_model=16, d_kv=4, d_ff=32, num_layers=1, num_heads=4)
    transformers.T5EncoderModel(config).save_pretrained(tmp_path / "text_encoder")
    return tmp_path


def test_t5_captions_as_the_latte_pipeline_makes_them(t5_pipeline):
    encoder = text_encoder(t5_pipeline)
    assert encoder.kind == "t5" and encoder.dim == 16 and encoder.max_length == T5_MAX_LENGTH == 120
    tokens, mask = encoder(["a red triangle moving up", "left"])
    assert tokens.shape == (2, 120, 16) and mask.dtype == torch.bool
    assert mask.sum(1).tolist() == [6, 2]                       # the words and the end-of-sequence token
    assert not tokens.requires_grad
    alone, _ = encoder(["left"])
    assert_same_up_to_rounding(alone[0, :2], tokens[1, :2])


def test_t5_tokens_drive_a_text_model_and_padding_is_ignored(t5_pipeline):
    encoder = PretrainedTextEncoder(t5_pipeline, max_length=12)
    tokens, mask = encoder(["a red triangle moving up and to the left", "up"])
    model = Latte(LatteConfig(input_size=8, num_frames=2, in_channels=4, patch_size=2, hidden_size=32, depth=2,
                              num_heads=4, conditioning="text", text_dim=encoder.dim)).eval()
    torch.nn.init.normal_(model.blocks[0].cross_attn.proj.weight)
    torch.nn.init.normal_(model.final_layer.linear.weight)
    x, t = torch.randn(2, 2, 4, 8, 8), torch.tensor([5, 50])
    with torch.no_grad():
        out = model(x, t, text=tokens, text_mask=mask)
        short = model(x[1:], t[1:], text=tokens[1:, :2])
    assert_same_up_to_rounding(out[1:], short)


def test_clip_text_model_in_one_folder(tmp_path):
    tokenizer, size = word_tokenizer(["<pad>", "<|startoftext|>", "<|endoftext|>", "<unk>"],
                                     "<|startoftext|> $A <|endoftext|>", 77)
    tokenizer.save_pretrained(tmp_path)
    config = transformers.CLIPTextConfig(vocab_size=size, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                         num_attention_heads=2, max_position_embeddings=77)
    transformers.CLIPTextModel(config).save_pretrained(tmp_path)
    encoder = text_encoder(tmp_path)
    tokens, mask = encoder(["a red triangle"])
    assert encoder.kind == "clip_text_model" and tokens.shape == (1, 77, 16) and mask.sum().item() == 5


def test_bad_folders_are_refused(t5_pipeline, tmp_path):
    with pytest.raises(FileNotFoundError, match="neither text_encoder/config.json nor config.json"):
        text_encoder(tmp_path / "nothing")
    for weights in (t5_pipeline / "text_encoder").glob("*.safetensors"):
        weights.unlink()
    torch.save({}, t5_pipeline / "text_encoder" / "pytorch_model.bin")
    with pytest.raises(ValueError, match="only safetensors are read"):
        text_encoder(t5_pipeline)
    with pytest.raises(TypeError, match="captions must be a non-empty list of str"):
        WordEncoder()("a red triangle")


def test_word_encoder_is_one_hot_words_and_an_end_token():
    encoder = WordEncoder(max_length=6)
    assert encoder.dim == len(VOCABULARY) + 2
    tokens, mask = encoder(["A red Triangle, drifting north-west!", "purple up", "a b c d e f g h"])
    assert tokens.shape == (3, 6, encoder.dim) and mask.sum(1).tolist() == [6, 3, 6]
    ids = tokens.argmax(-1)
    vocab = encoder.vocabulary
    assert [vocab[i] for i in ids[0]] == ["a", "red", "triangle", "drifting", "north", "</s>"]
    assert [vocab[i] for i in ids[1, :3]] == ["<unk>", "up", "</s>"]                # unknown word
    assert vocab[ids[2, 5]] == "</s>"                                                # cut, end token kept
    assert torch.equal(tokens.sum(-1), mask.float())                                  # padding: zero vectors
    with pytest.raises(ValueError, match="max_length=1 must be an integer >= 2"):
        WordEncoder(max_length=1)

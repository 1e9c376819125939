"""Builds a tiny, randomly initialised Coqui VITS model on disk, for tests that need a real Coqui checkpoint."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

# Every character English text needs; VITS drops the ones it does not know, so keep this wide.
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
PUNCTUATION = "!'(),-.:;? \""

SAMPLE_RATE = 16_000  # not Coqui's default 22050, so a test can tell the rate comes from the config
HOP_LENGTH = 256  # must equal the product of the decoder's upsample rates below


@dataclass(frozen=True)
class BuiltModel:
    path: Path  # what models.toml's 'path' names: the checkpoint (VITS) or the model directory (XTTS)
    config_path: Path  # config.json
    sample_rate: int
    speakers: tuple[str, ...]
    languages: tuple[str, ...]


def build_vits(
    directory: Path,
    speakers: tuple[str, ...] = (),
    languages: tuple[str, ...] = (),
    seed: int = 1234,
) -> BuiltModel:
    """Write model.pth and config.json for a VITS small enough to synthesize in milliseconds on a CPU.

    speakers / languages: two or more make a multi-speaker / multilingual model, as Coqui's own
    VCTK and YourTTS models are, so the engine's speaker and language checks can be exercised.
    """
    import torch
    from TTS.config.shared_configs import BaseAudioConfig
    from TTS.tts.configs.shared_configs import CharactersConfig
    from TTS.tts.configs.vits_config import VitsArgs, VitsConfig
    from TTS.tts.models.vits import Vits

    directory.mkdir(parents=True, exist_ok=True)
    args = VitsArgs(
        hidden_channels=32,
        hidden_channels_ffn_text_encoder=64,
        num_heads_text_encoder=2,
        num_layers_text_encoder=1,
        num_layers_posterior_encoder=1,
        num_layers_flow=1,
        # A deterministic duration predictor: the audio length then depends on the text only.
        use_sdp=False,
        resblock_type_decoder="2",
        resblock_kernel_sizes_decoder=[3],
        resblock_dilation_sizes_decoder=[[1, 3]],
        upsample_rates_decoder=[8, 8, 2, 2],
        upsample_kernel_sizes_decoder=[16, 16, 4, 4],
        upsample_initial_channel_decoder=32,
        init_discriminator=False,
        use_speaker_embedding=len(speakers) > 1,
        speaker_embedding_channels=16,
        use_language_embedding=len(languages) > 1,
        embedded_language_dim=4,
    )
    config = VitsConfig(
        model_args=args,
        audio=BaseAudioConfig(
            sample_rate=SAMPLE_RATE,
            hop_length=HOP_LENGTH,
            win_length=1024,
            fft_size=1024,
            # Trimming "silence" from a random model's output would make lengths arbitrary.
            do_trim_silence=False,
        ),
        use_phonemes=False,
        text_cleaner="multilingual_cleaners",
        characters=CharactersConfig(
            characters_class="TTS.tts.models.vits.VitsCharacters",
            characters=LETTERS,
            punctuations=PUNCTUATION,
            pad="<PAD>",
            eos="<EOS>",
            bos="<BOS>",
            blank="<BLNK>",
            is_unique=False,
            is_sorted=True,
        ),
        add_blank=True,
        speakers=list(speakers) if len(speakers) > 1 else [],
        languages=list(languages),
        use_speaker_embedding=len(speakers) > 1,
        test_sentences=[],
    )
    torch.manual_seed(seed)
    with warnings.catch_warnings():
        # coqui-tts 0.28 prefers Vits(config); init_from_config still works and is what 0.27 needs.
        warnings.simplefilter("ignore", UserWarning)
        model = Vits.init_from_config(config)
    model.eval()
    path = directory / "model.pth"
    config_path = directory / "config.json"
    # Coqui's loader reads the weights from the "model" key of a torch.save'd dict (as the trainer writes it).
    torch.save({"model": model.state_dict(), "config": config.to_dict()}, path)
    model.config.save_json(str(config_path))
    return BuiltModel(path, config_path, SAMPLE_RATE, tuple(speakers), tuple(model.config.languages))


# XTTS's text tokens: its control tokens, a token per language it should accept, then single characters.
XTTS_CONTROL = ("[STOP]", "[UNK]", "[SPACE]", "[START]")
XTTS_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789.,!?'-:;\"()"
XTTS_OUTPUT_RATE = 24_000  # XttsAudioConfig's output rate, as for the real XTTS-v2


def build_xtts(
    directory: Path,
    languages: tuple[str, ...] = ("en", "fr"),
    speakers: tuple[str, ...] = ("Test Voice",),
    max_audio_tokens: int = 40,
    seed: int = 1234,
    real_shape: bool = False,
) -> BuiltModel:
    """A randomly initialised XTTS laid out as the XTTS-v2 download is: config.json, model.pth, vocab.json,
    speakers_xtts.pth. Its GPT is one layer wide enough to run; its HiFi-GAN decoder and speaker encoder
    are XTTS's fixed ones (about 22 M parameters, 90 MB). A random GPT never says stop, so every
    sentence runs to max_audio_tokens: that bounds the time a test takes. With real_shape, the GPT has
    XTTS-v2's own size (30 layers of 1024, 16 heads, 1026 audio tokens; about 1.9 GB in fp32), for
    measuring GPU memory; only its text vocabulary stays small.
    """
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from TTS.tts.configs.xtts_config import XttsArgs, XttsConfig
    from TTS.tts.layers.xtts.tokenizer import VoiceBpeTokenizer
    from TTS.tts.models.xtts import Xtts

    directory.mkdir(parents=True, exist_ok=True)
    tokens = [*XTTS_CONTROL, *(f"[{lang}]" for lang in languages), *XTTS_CHARS]
    tokenizer = Tokenizer(models.WordLevel({t: i for i, t in enumerate(tokens)}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Split("", "isolated")  # one token per character
    tokenizer.add_special_tokens([t for t in tokens if t.startswith("[")])
    vocab = directory / "vocab.json"
    tokenizer.save(str(vocab))
    model_dim = 1024 if real_shape else 32
    audio_tokens = 1024 if real_shape else 64  # then start and stop
    args = XttsArgs(
        gpt_layers=30 if real_shape else 1,
        gpt_n_model_channels=model_dim,
        gpt_n_heads=16 if real_shape else 2,
        gpt_max_audio_tokens=max_audio_tokens,
        gpt_max_text_tokens=402 if real_shape else 200,
        gpt_max_prompt_tokens=70 if real_shape else 20,
        gpt_num_audio_tokens=audio_tokens + 2,
        gpt_start_audio_token=audio_tokens,
        gpt_stop_audio_token=audio_tokens + 1,
        decoder_input_dim=model_dim,
        tokenizer_file=str(vocab),
    )
    config = XttsConfig(model_args=args, languages=list(languages))
    torch.manual_seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model = Xtts.init_from_config(config)
    model.tokenizer = VoiceBpeTokenizer(vocab_file=str(vocab))
    model.init_models()  # the GPT's text embedding is sized from the tokenizer
    torch.save({"model": model.state_dict(), "config": config.to_dict()}, directory / "model.pth")
    config_path = directory / "config.json"
    config.save_json(str(config_path))
    voices = {
        name: {"gpt_cond_latent": torch.randn(1, 32, model_dim), "speaker_embedding": torch.randn(1, 512, 1)}
        for name in speakers
    }
    torch.save(voices, directory / "speakers_xtts.pth")
    return BuiltModel(directory, config_path, XTTS_OUTPUT_RATE, tuple(speakers), tuple(languages))

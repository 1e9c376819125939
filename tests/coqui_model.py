"""Builds a tiny, randomly initialised Coqui VITS model on disk, for tests that need a real Coqui checkpoint."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# Every character English text needs; VITS drops the ones it does not know, so keep this wide.
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
PUNCTUATION = "!'(),-.:;? \""

SAMPLE_RATE = 16_000  # not Coqui's default 22050, so a test can tell the rate comes from the config
HOP_LENGTH = 256  # must equal the product of the decoder's upsample rates below


@dataclass(frozen=True)
class BuiltModel:
    path: Path  # model.pth
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
    model = Vits.init_from_config(config)
    model.eval()
    path = directory / "model.pth"
    config_path = directory / "config.json"
    # Coqui's loader reads the weights from the "model" key of a torch.save'd dict (as the trainer writes it).
    torch.save({"model": model.state_dict(), "config": config.to_dict()}, path)
    model.config.save_json(str(config_path))
    return BuiltModel(path, config_path, SAMPLE_RATE, tuple(speakers), tuple(model.config.languages))

"""Time-domain codec: an end-to-end waveform autoencoder with learned strided convolutions.

Encoder: a learned analysis filterbank (Conv1d, kernel 4x stride, stride 128 -> 344 Hz), snake
activations and dilated residual units, a second strided conv (stride 8) to the 43 Hz latent rate
and ConvNeXt blocks; decoder: the mirror, ending in a learned transposed-conv synthesis filterbank.
No hand-made transform (unlike the STFT model), as in the seed papers' waveform model.

Why two wide strided stages rather than an EnCodec-style ladder of thin ones: on a 2-core CPU the
thin high-rate stages cost most of the compute and learn slowly (our first such model ignored its
latents after hundreds of steps); wide stages learn a filterbank quickly and run far above realtime.

Normalisation only at the latent rate; residual units carry a small learned gain (an unscaled
stack diverged). Edges: every conv is centred, and the pipeline gives each chunk
``context_frames`` of real neighbouring audio/latents on both sides and keeps the centre, so no
'same'-padding artefact reaches the output.
"""

from __future__ import annotations

import torch
from torch import nn

from .base import CodecModel, ModelConfig, StepFiLM, make_config
from .blocks import ChannelNorm, ConvNeXtBlock, ResUnit, Snake


def time_config(**overrides: object) -> ModelConfig:
    """The shipped time model's sizes; keyword overrides (e.g. tiny test models) win."""
    return make_config("time", {"channels": 384, "strides": [128, 8], "dim": 384, "blocks": 2, "res_kernel": 3},
                       overrides)


class TimeCodec(CodecModel):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        e = config.extra
        ch, dim, k = int(e["channels"]), int(e["dim"]), int(e["res_kernel"])
        s1, s2 = (int(s) for s in e["strides"])
        assert s1 * s2 == config.hop, "strides must multiply to hop"
        self.encoder = nn.Sequential(
            nn.Conv1d(1, ch, 4 * s1, stride=s1, padding=3 * s1 // 2),
            Snake(ch), ResUnit(ch, 1, k), ResUnit(ch, 3, k), ResUnit(ch, 9, k), Snake(ch),
            nn.Conv1d(ch, dim, s2, stride=s2),
        )
        self.enc_blocks = nn.ModuleList(ConvNeXtBlock(dim) for _ in range(int(e["blocks"])))
        self.enc_norm = ChannelNorm(dim)
        self.enc_out = nn.Conv1d(dim, config.latent_dim, 1)

        self.dec_in = nn.Conv1d(config.latent_dim, dim, 3, padding=1)
        self.dec_blocks = nn.ModuleList(ConvNeXtBlock(dim) for _ in range(int(e["blocks"])))
        self.film = StepFiLM(dim, int(e["blocks"]))
        self.decoder = nn.Sequential(
            Snake(dim), nn.ConvTranspose1d(dim, ch, s2, stride=s2),
            ResUnit(ch, 1, k), ResUnit(ch, 3, k), ResUnit(ch, 9, k), Snake(ch),
            nn.ConvTranspose1d(ch, 1, 4 * s1, stride=s1, padding=3 * s1 // 2),
        )

    def encode(self, audio: torch.Tensor) -> torch.Tensor:
        h = self.encoder(audio)
        for blk in self.enc_blocks:
            h = blk(h)
        return self.enc_out(self.enc_norm(h))

    def decode(self, latents: torch.Tensor, log2_step: torch.Tensor) -> torch.Tensor:
        h = self.dec_in(latents)
        for blk, film in zip(self.dec_blocks, self.film(log2_step), strict=True):
            h = blk(h, film)
        return self.decoder(h)

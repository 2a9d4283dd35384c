"""Time-domain codec: strided Conv1d encoder on the waveform (SoundStream/EnCodec-like), snake
activations and dilated residual units, latents at sample_rate / 1024, mirrored decoder with
transposed convolutions.

Edges: every conv is centred ('same'), so a chunk is exact only away from its ends; the pipeline
gives each chunk ``context_frames`` of real neighbouring audio/latents on both sides and keeps
the centre, so no 'same'-padding artefact reaches the output.
"""

from __future__ import annotations

import torch
from torch import nn

from .base import CodecModel, ModelConfig, StepFiLM, make_config
from .blocks import ChannelNorm, ConvNeXtBlock, ResUnit, Snake


def time_config(**overrides: object) -> ModelConfig:
    """The shipped time model's sizes; keyword overrides (e.g. tiny test models) win."""
    return make_config("time", {"channels": [32, 64, 128, 256], "strides": [8, 4, 4, 8], "dim": 384, "blocks": 2}, overrides)


class TimeCodec(CodecModel):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        e = config.extra
        chans = [int(c) for c in e["channels"]]
        strides = [int(s) for s in e["strides"]]
        dim = int(e["dim"])
        assert int(torch.tensor(strides).prod()) == config.hop, "strides must multiply to hop"
        enc: list[nn.Module] = [nn.Conv1d(1, chans[0], 2 * strides[0], stride=strides[0],
                                          padding=strides[0] // 2)]
        for i in range(len(chans)):
            enc += [ResUnit(chans[i], 1), ResUnit(chans[i], 3)]
            nxt = chans[i + 1] if i + 1 < len(chans) else dim
            if i + 1 < len(chans):
                s = strides[i + 1]
                enc += [Snake(chans[i]), nn.Conv1d(chans[i], nxt, 2 * s, stride=s, padding=s // 2), ChannelNorm(nxt)]
            else:
                enc += [Snake(chans[i]), nn.Conv1d(chans[i], dim, 3, padding=1), ChannelNorm(dim)]
        self.encoder = nn.Sequential(*enc)
        self.enc_blocks = nn.ModuleList(ConvNeXtBlock(dim) for _ in range(int(e["blocks"])))
        self.enc_norm = ChannelNorm(dim)
        self.enc_out = nn.Conv1d(dim, config.latent_dim, 1)

        self.dec_in = nn.Conv1d(config.latent_dim, dim, 3, padding=1)
        self.dec_blocks = nn.ModuleList(ConvNeXtBlock(dim) for _ in range(int(e["blocks"])))
        self.film = StepFiLM(dim, int(e["blocks"]))
        dec: list[nn.Module] = [Snake(dim), nn.Conv1d(dim, chans[-1], 3, padding=1), ChannelNorm(chans[-1])]
        for i in reversed(range(len(chans))):
            s = strides[i]
            out = chans[i - 1] if i > 0 else chans[0]
            if i > 0:
                dec += [Snake(chans[i]), nn.ConvTranspose1d(chans[i], out, 2 * s, stride=s, padding=s // 2),
                        ChannelNorm(out), ResUnit(out, 1), ResUnit(out, 3)]
            else:
                dec += [Snake(chans[0]), nn.ConvTranspose1d(chans[0], 1, 2 * s, stride=s, padding=s // 2)]
        self.decoder = nn.Sequential(*dec)

    def encode(self, audio: torch.Tensor) -> torch.Tensor:
        h = self.encoder(audio)
        for blk in self.enc_blocks:
            h = blk(h)
        return self.enc_out(self.enc_norm(h))

    def decode(self, latents: torch.Tensor, log2_step: torch.Tensor) -> torch.Tensor:
        h = self.dec_in(latents)
        for blk, film in zip(self.dec_blocks, self.film(log2_step), strict=True):
            h = blk(h, film)
        return torch.tanh(self.decoder(h)) * 1.2

"""Frequency-domain codec: power-compressed complex STFT -> ConvNeXt encoder -> latents at
sample_rate / 1024 -> ConvNeXt decoder predicting log-magnitude and phase -> iSTFT.

Why this shape: the heavy layers run at the latent rate (43 Hz at 44.1 kHz), which keeps both
passes far above realtime on a laptop CPU; the iSTFT head avoids transposed-conv upsampling; the
encoder sees the compressed *complex* spectrum so phase can be coded, not invented.
"""

from __future__ import annotations

import torch
from torch import nn

from .base import CodecModel, ModelConfig, StepFiLM, make_config
from .blocks import ConvNeXtBlock

N_FFT = 1024
STFT_HOP = 256
POWER = 0.3


def freq_config(**overrides: object) -> ModelConfig:
    """The shipped freq model's sizes; keyword overrides (e.g. tiny test models) win."""
    return make_config("freq", {"fine_dim": 256, "dim": 384, "enc_blocks": 3, "dec_blocks": 4, "fine_blocks": 1}, overrides)


class FreqCodec(CodecModel):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        e = config.extra
        fine, dim = int(e["fine_dim"]), int(e["dim"])
        self.sub = config.hop // STFT_HOP  # STFT frames per latent frame
        bins = N_FFT // 2 + 1
        self.bins = bins
        self.register_buffer("window", torch.hann_window(N_FFT), persistent=False)
        # encoder
        self.enc_in = nn.Conv1d(2 * bins, fine, 1)
        self.enc_fine = nn.ModuleList(ConvNeXtBlock(fine) for _ in range(int(e["fine_blocks"])))
        self.enc_down = nn.Conv1d(fine, dim, self.sub, stride=self.sub)
        self.enc_blocks = nn.ModuleList(ConvNeXtBlock(dim) for _ in range(int(e["enc_blocks"])))
        self.enc_norm = nn.LayerNorm(dim)
        self.enc_out = nn.Conv1d(dim, config.latent_dim, 1)
        # decoder
        self.dec_in = nn.Conv1d(config.latent_dim, dim, 3, padding=1)
        self.dec_blocks = nn.ModuleList(ConvNeXtBlock(dim) for _ in range(int(e["dec_blocks"])))
        self.film = StepFiLM(dim, int(e["dec_blocks"]))
        self.dec_up = nn.ConvTranspose1d(dim, fine, self.sub, stride=self.sub)
        self.dec_fine = nn.ModuleList(ConvNeXtBlock(fine) for _ in range(int(e["fine_blocks"])))
        self.dec_norm = nn.LayerNorm(fine)
        self.head = nn.Conv1d(fine, 3 * bins, 1)

    # -- features -------------------------------------------------------------------------
    def stft(self, audio: torch.Tensor) -> torch.Tensor:
        """``[B, 1, T]`` -> complex ``[B, bins, T / STFT_HOP]`` (frame j centred on sample j*hop)."""
        x = audio.reshape(audio.shape[0], -1)
        spec = torch.stft(x, N_FFT, STFT_HOP, window=self.window, center=True, pad_mode="constant",
                          return_complex=True)
        return spec[..., : x.shape[-1] // STFT_HOP]

    def istft(self, spec: torch.Tensor, length: int) -> torch.Tensor:
        """Inverse of :meth:`stft` for ``length`` samples; returns ``[B, 1, length]``."""
        pad = torch.zeros_like(spec[..., :1])
        y = torch.istft(torch.cat([spec, pad], dim=-1), N_FFT, STFT_HOP, window=self.window,
                        center=True, length=length)
        return y[:, None, :]

    @staticmethod
    def compress(spec: torch.Tensor) -> torch.Tensor:
        """Complex spectrum -> real ``[B, 2*bins, frames]`` of |X|^0.3 * e^{i phase}."""
        mag = spec.abs().clamp_min(1e-7)
        c = spec * mag.pow(POWER - 1)
        return torch.cat([c.real, c.imag], dim=1)

    # -- codec ----------------------------------------------------------------------------
    def encode(self, audio: torch.Tensor) -> torch.Tensor:
        h = self.enc_in(self.compress(self.stft(audio)))
        for blk in self.enc_fine:
            h = blk(h)
        h = self.enc_down(h)
        for blk in self.enc_blocks:
            h = blk(h)
        h = self.enc_norm(h.transpose(1, 2)).transpose(1, 2)
        return self.enc_out(h)

    def decode_spec(self, latents: torch.Tensor, log2_step: torch.Tensor) -> torch.Tensor:
        h = self.dec_in(latents)
        for blk, film in zip(self.dec_blocks, self.film(log2_step), strict=True):
            h = blk(h, film)
        h = self.dec_up(h)
        for blk in self.dec_fine:
            h = blk(h)
        h = self.dec_norm(h.transpose(1, 2)).transpose(1, 2)
        out = self.head(h)
        logmag, px, py = out.split(self.bins, dim=1)
        mag = torch.exp(logmag.clamp(max=6.0))
        norm = torch.sqrt(px * px + py * py + 1e-9)
        return torch.complex(mag * px / norm, mag * py / norm)

    def decode(self, latents: torch.Tensor, log2_step: torch.Tensor) -> torch.Tensor:
        spec = self.decode_spec(latents, log2_step)
        return self.istft(spec, latents.shape[-1] * self.hop)

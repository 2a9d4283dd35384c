"""The interface every model family implements, and the pieces they share.

A model maps mono audio at ``sample_rate`` to latents at one frame per ``hop`` samples and back.
Latents are quantized outside the model as ``round(y / step)`` with ``step = 2 ** (step_index / 16)``;
the decoder is told ``log2(step)`` so it can fill in what coarse quantization removed.

The learned prior is a per-channel Laplace scale. For coding it is frozen as integers
(``prior_q16 = round(16 * log2(scale))``) so encoder and decoder derive identical default scale
indices with integer arithmetic on any device.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

STEP_DIV = 16  # step = 2 ** (step_index / STEP_DIV); also the unit of prior_q16


@dataclass
class ModelConfig:
    family: str = "freq"
    sample_rate: int = 44100
    hop: int = 1024  # samples per latent frame
    latent_dim: int = 256
    context_frames: int = 16  # latent frames of context each side for seamless chunking
    log2_step_min: float = -4.0  # training range of the quantizer step
    log2_step_max: float = 2.0
    extra: dict = field(default_factory=dict)  # family-specific sizes

    def to_dict(self) -> dict:
        return asdict(self)


def make_config(family: str, extra_defaults: dict, overrides: dict) -> ModelConfig:
    """A family's config: its default sizes, updated by ``overrides`` (``extra`` merges key by key)."""
    overrides = dict(overrides)
    extra = dict(extra_defaults)
    extra.update(overrides.pop("extra", None) or {})
    cfg = ModelConfig(family=family, extra=extra)
    for k, v in overrides.items():
        setattr(cfg, k, v)
    return cfg


class StepFiLM(nn.Module):
    """Maps log2(step) to per-channel scale/shift pairs for each conditioned block."""

    def __init__(self, dim: int, n_blocks: int) -> None:
        super().__init__()
        self.n = n_blocks
        self.dim = dim
        self.net = nn.Sequential(nn.Linear(1, 64), nn.GELU(), nn.Linear(64, 2 * dim * n_blocks))
        nn.init.zeros_(self.net[2].weight)
        nn.init.zeros_(self.net[2].bias)

    def forward(self, log2_step: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        h = self.net(log2_step.reshape(-1, 1).float()).reshape(-1, self.n, 2, self.dim)
        return [(h[:, i, 0], h[:, i, 1]) for i in range(self.n)]


class CodecModel(nn.Module):
    """Common state: config, learned prior, quantization proxy. Families add encode/decode."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.prior_log2_scale = nn.Parameter(torch.zeros(config.latent_dim))
        self.register_buffer("prior_q16", torch.zeros(config.latent_dim, dtype=torch.int32))

    @property
    def sample_rate(self) -> int:
        return self.config.sample_rate

    @property
    def hop(self) -> int:
        return self.config.hop

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    @property
    def context_frames(self) -> int:
        return self.config.context_frames

    def encode(self, audio: torch.Tensor) -> torch.Tensor:
        """``[B, 1, frames * hop]`` -> latents ``[B, latent_dim, frames]``."""
        raise NotImplementedError

    def decode(self, latents: torch.Tensor, log2_step: torch.Tensor) -> torch.Tensor:
        """Latents ``[B, latent_dim, frames]`` (dequantized) -> ``[B, 1, frames * hop]``."""
        raise NotImplementedError

    def freeze_prior(self) -> None:
        """Store the learned prior as integers: the coder never touches a float from training."""
        with torch.no_grad():
            self.prior_q16.copy_(torch.round(self.prior_log2_scale * STEP_DIV).to(torch.int32))

    def rate_bits(self, y_tilde: torch.Tensor, step: torch.Tensor, detach_prior: bool = False) -> torch.Tensor:
        """Bits of noisy latents ``[B, C, T]`` under the per-channel Laplace prior at ``step [B]``."""
        log2_scale = self.prior_log2_scale.detach() if detach_prior else self.prior_log2_scale
        scale = (2.0 ** log2_scale)[None, :, None] / step[:, None, None]
        q = y_tilde / step[:, None, None]
        return -torch.log2(laplace_bin_prob(q, scale).clamp_min(1e-9)).sum(dim=(1, 2))

    def quantize_noise(self, y: torch.Tensor, step: torch.Tensor) -> torch.Tensor:
        """Uniform-noise proxy of rounding to multiples of ``step`` (training only)."""
        s = step[:, None, None]
        return y + (torch.rand_like(y) - 0.5) * s

    def quantize_ste(self, y: torch.Tensor, step: torch.Tensor) -> torch.Tensor:
        """Straight-through rounding: real rounding forward, identity gradient."""
        s = step[:, None, None]
        return y + (torch.round(y / s) * s - y).detach()


def laplace_bin_prob(q: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Mass of a zero-mean Laplace on [q - 1/2, q + 1/2], computed on the stable (upper) side."""
    a = q.abs()
    hi = torch.exp(-(a + 0.5) / scale)
    lo = torch.exp(-(a - 0.5).clamp_min(0) / scale)
    centre = 1 - 0.5 * hi - 0.5 * torch.exp(-(0.5 - a).clamp_min(0) / scale)
    return torch.where(a < 0.5, centre, 0.5 * (lo - hi))


def step_from_index(step_index: int) -> float:
    return math.pow(2.0, step_index / STEP_DIV)

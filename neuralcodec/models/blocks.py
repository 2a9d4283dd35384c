"""Building blocks shared by both model families."""

from __future__ import annotations

import torch
from torch import nn


class ConvNeXtBlock(nn.Module):
    """1-D ConvNeXt block (depthwise conv -> LayerNorm -> MLP, residual); cheap per frame on CPU.

    An optional FiLM input (``[B, dim]`` scale and shift) lets the decoder know the quantizer step.
    """

    def __init__(self, dim: int, mult: int = 3, kernel: int = 7) -> None:
        super().__init__()
        self.dw = nn.Conv1d(dim, dim, kernel, padding=kernel // 2, groups=dim)
        self.norm = nn.LayerNorm(dim)
        self.pw1 = nn.Linear(dim, dim * mult)
        self.act = nn.GELU()
        self.pw2 = nn.Linear(dim * mult, dim)
        self.gamma = nn.Parameter(torch.full((dim,), 0.1))

    def forward(self, x: torch.Tensor, film: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        h = self.dw(x).transpose(1, 2)  # [B, T, C]
        h = self.norm(h)
        if film is not None:
            h = h * (1 + film[0][:, None, :]) + film[1][:, None, :]
        h = self.pw2(self.act(self.pw1(h)))
        return x + (self.gamma * h).transpose(1, 2)


class Snake(nn.Module):
    """Snake activation x + sin^2(a x)/a: a periodic bias that suits audio waveforms."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.log_alpha = nn.Parameter(torch.zeros(1, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.log_alpha.exp()
        return x + torch.sin(a * x).pow(2) / (a + 1e-9)


class ChannelNorm(nn.Module):
    """LayerNorm over channels at each time step: per-frame statistics, so a chunk's output does not
    depend on where the chunk starts (a GroupNorm over time would break seamless chunking)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.transpose(1, 2)).transpose(1, 2)


class ResUnit(nn.Module):
    """Dilated residual unit for the waveform model; a small learned gain keeps deep stacks from
    growing activations stage by stage (an unscaled stack diverged in our first run)."""

    def __init__(self, channels: int, dilation: int, kernel: int = 7) -> None:
        super().__init__()
        self.net = nn.Sequential(
            Snake(channels),
            nn.Conv1d(channels, channels, kernel, dilation=dilation, padding=dilation * (kernel // 2)),
            Snake(channels),
            nn.Conv1d(channels, channels, 1),
        )
        self.gamma = nn.Parameter(torch.full((1, channels, 1), 0.1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.gamma * self.net(x)

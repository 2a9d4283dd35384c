"""Chunked model passes with bounded memory and seamless chunk boundaries.

Latent frame ``i`` covers model-rate samples ``[i*hop, (i+1)*hop)``. A chunk of ``chunk_frames``
latent frames is encoded from its audio plus ``context_frames`` of real neighbouring audio on each
side, and decoded from its latents plus the neighbours' latents; only the centre is kept. With the
context wider than the networks' receptive field, chunked output equals whole-file output (up to
float rounding), so there is no boundary to hear and no 'same'-padding artefact at chunk edges.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import torch

from .models.base import CodecModel


class ChunkEncoder:
    """Feed model-rate coding-channel audio ``[ch, n]`` blocks; collect latents ``[ch, D, F]``."""

    def __init__(self, model: CodecModel, device: str, channels: int, chunk_frames: int) -> None:
        self.model, self.device, self.channels = model, device, channels
        self.hop, self.ctx, self.chunk = model.hop, model.context_frames, chunk_frames
        self.buf = np.zeros((channels, 0), dtype=np.float32)
        self.buf_start = 0  # absolute sample index of buf[:, 0]
        self.received = 0
        self.next_frame = 0  # first latent frame not yet encoded
        self.latents: list[np.ndarray] = []

    def push(self, block: np.ndarray) -> None:
        self.buf = np.concatenate([self.buf, block.astype(np.float32)], axis=1)
        self.received += block.shape[1]
        while (self.next_frame + self.chunk + self.ctx) * self.hop <= self.received:
            self._run(self.next_frame, self.next_frame + self.chunk, self.next_frame + self.chunk + self.ctx)

    def finish(self) -> np.ndarray:
        """Encode what is left; returns latents ``[ch, D, frames]`` (frames = ceil(samples/hop))."""
        total = max(1, -(-self.received // self.hop))
        pad = total * self.hop - self.received
        self.buf = np.concatenate([self.buf, np.zeros((self.channels, pad), np.float32)], axis=1)
        while self.next_frame < total:
            b = min(total, self.next_frame + self.chunk)
            self._run(self.next_frame, b, min(total, b + self.ctx))
        return np.concatenate(self.latents, axis=2)

    @torch.inference_mode()
    def _run(self, a: int, b: int, wb: int) -> None:
        wa = max(0, a - self.ctx)
        s0 = wa * self.hop - self.buf_start
        window = self.buf[:, s0 : s0 + (wb - wa) * self.hop]
        x = torch.from_numpy(np.ascontiguousarray(window))[:, None, :].to(self.device)
        y = self.model.encode(x).float().cpu().numpy()
        self.latents.append(y[:, :, a - wa : b - wa])
        self.next_frame = b
        keep_from = max(0, b - self.ctx) * self.hop  # drop audio no later chunk needs
        self.buf = self.buf[:, keep_from - self.buf_start :]
        self.buf_start = keep_from


def decode_chunks(model: CodecModel, device: str, frames: int, chunk_frames: int, first: int, last: int,
                  get_latents: Callable[[int, int], np.ndarray], log2_steps: np.ndarray,
                  group: int = 1) -> Iterator[np.ndarray]:
    """Yield model-rate audio ``[ch, n]`` for packets ``first..last`` (inclusive), in order.

    ``get_latents(a, b)`` returns dequantized latents ``[ch, D, b - a]``; ``group`` packets are
    decoded per model call (a speed/memory knob that does not change the result beyond rounding).
    """
    hop, ctx = model.hop, model.context_frames
    steps = torch.from_numpy(log2_steps.astype(np.float32)).to(device)
    p = first
    with torch.inference_mode():
        while p <= last:
            q = min(last, p + group - 1)
            a, b = p * chunk_frames, min(frames, (q + 1) * chunk_frames)
            wa, wb = max(0, a - ctx), min(frames, b + ctx)
            lat = torch.from_numpy(np.ascontiguousarray(get_latents(wa, wb))).to(device)
            audio = model.decode(lat, steps).float().cpu().numpy()[:, 0]
            yield audio[:, (a - wa) * hop : (b - wa) * hop]
            p = q + 1

"""Random training excerpts from the cached corpus, with cheap augmentation.

``ExcerptSampler`` is a torch ``IterableDataset`` yielding float32 tensors ``[2, samples]`` at
``sample_rate`` (stereo; mono files duplicated). Tracks are picked with probability proportional
to their length (every second of music is equally likely), the start uniformly inside the track.

Memory: the decoded tracks are int16 ``.npy`` files memory-mapped from the cache (635 MB per hour
of audio at 44.1 kHz stereo); the process itself holds only the current excerpt. With
``in_memory=True`` (no cache directory) the same int16 arrays live in the process heap instead.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from .cache import decode_stereo, ensure_cached, open_cached, to_int16
from .corpus import DataError, Track, load_tracks


@dataclass(frozen=True)
class Augment:
    """Per-excerpt augmentation; each draw is independent.

    - ``gain_db``: uniform gain range; the gain is lowered when needed so the peak stays below
      0.999, so augmentation never clips.
    - ``mono_prob``: replace both channels by the mid (L+R)/2, so the model sees zero side.
    - ``swap_prob``: swap left and right.
    - ``width_prob`` / ``width_range``: multiply the side signal (L-R)/2 by a uniform factor.
    - ``ms_view_prob``: emit ``[mid, side]`` = ``[(L+R)/2, (L-R)/2]`` instead of ``[L, R]``
      (the convention of ``neuralcodec.audio.to_mid_side``). Off by default because it changes
      what the channels mean; useful for a model that codes each channel on its own and must
      also learn the quiet, sparse statistics of side signals.
    """

    gain_db: tuple[float, float] = (-12.0, 3.0)
    mono_prob: float = 0.1
    swap_prob: float = 0.5
    width_prob: float = 0.2
    width_range: tuple[float, float] = (0.5, 1.5)
    ms_view_prob: float = 0.0


NO_AUGMENT = Augment(gain_db=(0.0, 0.0), mono_prob=0.0, swap_prob=0.0, width_prob=0.0)


class ExcerptSampler(IterableDataset):
    """Random excerpts ``[2, samples]`` float32 of one split; see the module docstring.

    ``source`` is a manifest path (or corpus folder), a loaded manifest dict, or a list of
    ``Track`` (e.g. from ``fma_tracks``). Decoded audio is cached as int16 ``.npy`` in
    ``cache_dir`` (default: ``cache/`` beside the manifest) and memory-mapped; ``in_memory=True``
    keeps it in RAM instead, without touching disk. Excerpts whose RMS is below ``silence_db``
    dBFS are redrawn (up to 20 times, then accepted). ``view="ms"`` always emits mid/side.
    Iteration is endless unless ``length`` is given; each ``__iter__`` restarts from
    ``(seed, epoch, worker)``, so a validation pass with ``augment=False`` repeats exactly.
    """

    def __init__(
        self,
        source: str | Path | dict[str, Any] | Sequence[Track],
        split: str | None = "train",
        sample_rate: int = 44100,
        excerpt_seconds: float = 2.0,
        seed: int = 0,
        *,
        augment: bool | Augment = True,
        view: Literal["lr", "ms"] = "lr",
        silence_db: float = -50.0,
        cache_dir: str | Path | None = None,
        in_memory: bool = False,
        length: int | None = None,
        max_redraws: int = 20,
    ) -> None:
        super().__init__()
        if sample_rate < 8000 or excerpt_seconds <= 0:
            raise DataError(
                f"need sample_rate >= 8000 and excerpt_seconds > 0, got {sample_rate}, {excerpt_seconds}"
            )
        if view not in ("lr", "ms"):
            raise DataError(f"view must be 'lr' or 'ms', got {view!r}")
        tracks = load_tracks(source, split)
        if cache_dir is None and not in_memory:
            if not isinstance(source, (str, Path)):
                raise DataError("pass cache_dir=... (or in_memory=True) when sampling a track list")
            folder = Path(source) if Path(source).is_dir() else Path(source).parent
            cache_dir = folder / "cache"
        self.split = split
        self.sample_rate = int(sample_rate)
        self.excerpt_samples = int(round(excerpt_seconds * sample_rate))
        self.seed = seed
        self.augment = augment if isinstance(augment, Augment) else (Augment() if augment else NO_AUGMENT)
        self.view = view
        self.silence_db = silence_db
        self.length = length
        self.max_redraws = max_redraws
        self.epoch = 0
        self.redraws = 0
        self.tracks: list[Track] = []
        self._audio: list[np.ndarray] = []
        self._scale: list[float] = []
        for track in tracks:
            if in_memory:
                pcm, scale = to_int16(decode_stereo(track.path, self.sample_rate))
            else:
                pcm, scale = open_cached(ensure_cached(track, cache_dir, self.sample_rate))
            if pcm.shape[0] >= self.excerpt_samples:
                self.tracks.append(track)
                self._audio.append(pcm)
                self._scale.append(scale)
        if not self.tracks:
            raise DataError(
                f"no {split or 'corpus'} track is at least {excerpt_seconds:g} s long at {sample_rate} Hz"
            )
        starts = np.array([a.shape[0] - self.excerpt_samples + 1 for a in self._audio], dtype=np.float64)
        self._cumulative = np.cumsum(starts)
        self._rng = np.random.default_rng([seed, 0, 0])

    @property
    def memory_bytes(self) -> int:
        """Bytes of decoded audio behind this sampler (mapped from disk, or in RAM if in_memory)."""
        return sum(a.nbytes for a in self._audio)

    @property
    def hours(self) -> float:
        """Hours of audio this sampler draws from."""
        return sum(a.shape[0] for a in self._audio) / self.sample_rate / 3600

    def set_epoch(self, epoch: int) -> None:
        """Change the stream that the next ``__iter__`` draws (like DistributedSampler.set_epoch)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        """Excerpts per pass; only finite samplers (``length=...``) have one."""
        if self.length is None:
            raise TypeError("an endless ExcerptSampler has no len(); pass length=...")
        return self.length

    def __iter__(self) -> Iterator[torch.Tensor]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        rng = np.random.default_rng([self.seed, self.epoch + 1, worker])
        if self.length is None:
            while True:
                yield self._draw(rng)
        count = self.length // workers + (1 if worker < self.length % workers else 0)
        for _ in range(count):
            yield self._draw(rng)

    def sample(self) -> torch.Tensor:
        """One excerpt from the sampler's own stream (independent of ``__iter__``)."""
        return self._draw(self._rng)

    def batch(self, batch_size: int) -> torch.Tensor:
        """``[batch_size, 2, samples]`` float32 for a training loop that needs no DataLoader."""
        return torch.stack([self._draw(self._rng) for _ in range(batch_size)])

    def _draw(self, rng: np.random.Generator) -> torch.Tensor:
        n = self.excerpt_samples
        floor = 10.0 ** (self.silence_db / 10.0)  # mean-square threshold
        for attempt in range(self.max_redraws + 1):
            pick = rng.random() * self._cumulative[-1]
            i = min(int(np.searchsorted(self._cumulative, pick, side="right")), len(self._audio) - 1)
            start = int(rng.integers(0, self._audio[i].shape[0] - n + 1))
            x = self._audio[i][start : start + n].astype(np.float32)
            x *= self._scale[i] / 32767.0
            if float(np.mean(np.square(x))) >= floor:
                break
            if attempt < self.max_redraws:
                self.redraws += 1
        return torch.from_numpy(np.ascontiguousarray(self._transform(x, rng).T))

    def _transform(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Augment a ``[n, 2]`` excerpt (may modify ``x``) and return it in the requested view."""
        aug = self.augment
        if aug.mono_prob > 0 and rng.random() < aug.mono_prob:
            x[:] = x.mean(axis=1, keepdims=True)
        else:
            if aug.swap_prob > 0 and rng.random() < aug.swap_prob:
                x = x[:, ::-1]
            if aug.width_prob > 0 and rng.random() < aug.width_prob:
                mid = 0.5 * (x[:, 0] + x[:, 1])
                side = 0.5 * (x[:, 0] - x[:, 1]) * rng.uniform(*aug.width_range)
                x = np.stack([mid + side, mid - side], axis=1)
        lo, hi = aug.gain_db
        if hi > lo or lo != 0.0:
            gain = 10.0 ** (rng.uniform(lo, hi) / 20.0)
            peak = float(np.max(np.abs(x)))
            if peak * gain > 0.999:
                gain = 0.999 / peak
            x = x * np.float32(gain)
        if self.view == "ms" or (aug.ms_view_prob > 0 and rng.random() < aug.ms_view_prob):
            x = np.stack([0.5 * (x[:, 0] + x[:, 1]), 0.5 * (x[:, 0] - x[:, 1])], axis=1)
        return np.asarray(x, dtype=np.float32)


def excerpts_per_second(sampler: ExcerptSampler, count: int = 2000) -> float:
    """Measured sampling speed, for docs and benchmarks (draws from a throwaway stream)."""
    import time

    rng = np.random.default_rng(12345)
    t0 = time.perf_counter()
    for _ in range(count):
        sampler._draw(rng)
    return count / max(time.perf_counter() - t0, 1e-9)


__all__ = ["Augment", "ExcerptSampler", "NO_AUGMENT", "excerpts_per_second"]

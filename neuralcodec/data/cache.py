"""Decoded-audio cache: each track once as int16 stereo ``.npy`` at the training rate, memory-mapped.

Decoding an Ogg/Opus file costs ~2-5 ms per second of audio, far too slow to repeat per excerpt,
so every track is decoded once, resampled with soxr (HQ) and stored as int16 ``[frames, 2]``
(interleaved, so an excerpt is one contiguous slice). Size: 2 ch x 2 bytes x 44100 Hz = 635 MB
per hour of audio. Files are memory-mapped, so the OS page cache (shared between DataLoader
workers and evictable) holds the hot part instead of each process's heap.

Lossy decoders overshoot full scale (peaks of 1.2-1.5 are common in these Ogg files); rather than
clip, a track whose peak exceeds 1 is stored divided by its peak and the factor is kept in a
``.json`` sidecar, so ``scale * int16 / 32768`` gives back the decoded signal.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from .corpus import DataError, Track

CACHE_FORMAT = 1


def decode_stereo(path: str | Path, sample_rate: int = 44100) -> np.ndarray:
    """Whole file as float32 ``[frames, 2]`` at ``sample_rate``: mono duplicated, >2 ch -> first 2."""
    try:
        audio, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (RuntimeError, sf.LibsndfileError) as exc:
        raise DataError(f"cannot decode {path}: {exc}") from None
    if audio.shape[1] == 1:
        audio = np.repeat(audio, 2, axis=1)
    elif audio.shape[1] > 2:
        audio = audio[:, :2]
    if rate != sample_rate:
        audio = soxr.resample(audio, rate, sample_rate, quality="HQ")
    return np.ascontiguousarray(audio, dtype=np.float32)


def cache_path(track: Track, cache_dir: str | Path, sample_rate: int = 44100) -> Path:
    """Where a track's decoded copy lives; the name changes when the source file changes."""
    try:
        stat = os.stat(track.path)
    except OSError:
        raise DataError(
            f"track file {track.path} is missing; reinstall package {track.package} "
            "or rebuild the manifest with `muzip data`"
        ) from None
    key = f"{CACHE_FORMAT}|{track.path}|{stat.st_size}|{stat.st_mtime_ns}|{sample_rate}"
    digest = hashlib.sha1(key.encode()).hexdigest()[:12]
    stem = re.sub(r"[^A-Za-z0-9]+", "_", Path(track.path).stem)[:40]
    package = re.sub(r"[^A-Za-z0-9]+", "_", track.package)[:30]
    return Path(cache_dir) / f"{package}-{stem}-{digest}.npy"


def to_int16(audio: np.ndarray) -> tuple[np.ndarray, float]:
    """int16 copy of float audio and the scale that undoes the peak normalisation (>= 1)."""
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    scale = max(1.0, peak)
    pcm = np.round(audio * (32767.0 / scale)).astype(np.int16)
    return pcm, scale


def ensure_cached(track: Track, cache_dir: str | Path, sample_rate: int = 44100) -> Path:
    """Decode the track into the cache unless already there; atomic, so concurrent callers are safe."""
    path = cache_path(track, cache_dir, sample_rate)
    if path.exists() and path.with_suffix(".json").exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    pcm, scale = to_int16(decode_stereo(track.path, sample_rate))
    meta = {"format": CACHE_FORMAT, "source": track.path, "id": track.id, "scale": scale,
            "frames": int(pcm.shape[0]), "sample_rate": sample_rate}
    _atomic_write(path.with_suffix(".json"), lambda fh: fh.write(json.dumps(meta).encode()))
    _atomic_write(path, lambda fh: np.save(fh, pcm, allow_pickle=False))
    return path


def _atomic_write(path: Path, write: Callable[[object], object]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def open_cached(path: str | Path) -> tuple[np.ndarray, float]:
    """Memory-mapped int16 ``[frames, 2]`` array of a cached track and its scale factor."""
    path = Path(path)
    meta = json.loads(path.with_suffix(".json").read_text())
    return np.load(path, mmap_mode="r"), float(meta["scale"])


def build_cache(
    tracks: Sequence[Track],
    cache_dir: str | Path,
    sample_rate: int = 44100,
    progress: Callable[[Track], None] | None = None,
) -> int:
    """Decode every track not cached yet; returns the cache's total size in bytes for these tracks."""
    total = 0
    for track in tracks:
        path = ensure_cached(track, cache_dir, sample_rate)
        total += path.stat().st_size
        if progress is not None:
            progress(track)
    return total

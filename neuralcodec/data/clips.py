"""Fixed held-out clips for benchmarks: cut from validation tracks only, at deterministic places.

Where: the window whose 0.1 s frame levels have the highest 20th percentile, i.e. the most
*consistently* active stretch (no fade, no break), scanned on a 1 s grid; a second clip of the
same track takes the best window that does not overlap the first. Which tracks: packages are
visited round-robin (tracks in id order), one clip per track first, second clips only when more
are needed, so the set spreads across packages.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from .cache import decode_stereo
from .corpus import DataError, Track, load_tracks


def active_starts(
    audio: np.ndarray, sample_rate: int, seconds: float, count: int = 1, hop_seconds: float = 1.0
) -> list[int]:
    """Start samples of up to ``count`` non-overlapping, most consistently active windows."""
    window = int(round(seconds * sample_rate))
    if audio.shape[0] < window:
        return []
    frame = max(1, sample_rate // 10)
    mono = audio.mean(axis=1) if audio.ndim == 2 else audio
    n_frames = mono.shape[0] // frame
    level = 10 * np.log10(np.mean(mono[: n_frames * frame].reshape(n_frames, frame) ** 2, axis=1) + 1e-10)
    per_window = max(1, window // frame)
    hop = max(1, int(round(hop_seconds * sample_rate)))
    candidates = list(range(0, audio.shape[0] - window + 1, hop))
    scores = []
    for start in candidates:
        first = start // frame
        chunk = level[first : first + per_window]
        scores.append(float(np.percentile(chunk, 20)) if chunk.size else -200.0)
    order = sorted(range(len(candidates)), key=lambda k: (-scores[k], candidates[k]))
    chosen: list[int] = []
    for k in order:
        if all(abs(candidates[k] - c) >= window for c in chosen):
            chosen.append(candidates[k])
            if len(chosen) == count:
                break
    return chosen


def plan_clips(tracks: Sequence[Track], n: int, per_track: int = 2) -> list[tuple[Track, int]]:
    """(track, clip number) pairs: packages round-robin, first clips before second clips."""
    by_package: dict[str, list[Track]] = {}
    for track in sorted(tracks, key=lambda t: t.id):
        by_package.setdefault(track.package, []).append(track)
    interleaved: list[Track] = []
    depth = max((len(v) for v in by_package.values()), default=0)
    for i in range(depth):
        interleaved += [v[i] for _, v in sorted(by_package.items()) if i < len(v)]
    plan = [(t, k) for k in range(per_track) for t in interleaved]
    return plan[:n]


def make_validation_clips(
    manifest: str | Path | Sequence[Track],
    out_dir: str | Path,
    n: int = 16,
    seconds: float = 10.0,
    per_track: int = 2,
    sample_rate: int = 44100,
    split: str = "validation",
    on_clip: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Write ``n`` stereo 16-bit WAV clips plus ``clips.json`` to ``out_dir``; return the records.

    A clip whose decoded peak exceeds full scale (lossy decoders overshoot) is scaled down to a
    0.999 peak rather than clipped; the applied gain is recorded.
    """
    if n < 1 or seconds <= 0 or per_track < 1:
        raise DataError(f"need n >= 1, seconds > 0, per_track >= 1; got {n}, {seconds}, {per_track}")
    tracks = load_tracks(manifest, split)
    plan = plan_clips(tracks, n, per_track)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    wanted: dict[str, list[int]] = {}
    by_id: dict[str, Track] = {}
    for track, k in plan:
        wanted.setdefault(track.id, []).append(k)
        by_id[track.id] = track
    records: list[dict[str, Any]] = []
    for track_id, clip_numbers in wanted.items():  # decode each track once, in plan order
        track = by_id[track_id]
        audio = decode_stereo(track.path, sample_rate)
        starts = active_starts(audio, sample_rate, seconds, per_track)
        for k in clip_numbers:
            if k < len(starts):
                records.append(_write_clip(track, audio, starts[k], seconds, sample_rate, out, len(records)))
                if on_clip is not None:
                    on_clip(records[-1])
    if not records:
        raise DataError(f"no {split} track is at least {seconds:g} s long")
    index = {"split": split, "seconds": seconds, "sample_rate": sample_rate, "clips": records}
    tmp = out / ".clips.json.tmp"
    tmp.write_text(json.dumps(index, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, out / "clips.json")
    return records


def _write_clip(
    track: Track, audio: np.ndarray, start: int, seconds: float, sample_rate: int, out: Path, number: int
) -> dict[str, Any]:
    """Write one clip atomically and return its record."""
    clip = audio[start : start + int(round(seconds * sample_rate))]
    peak = float(np.max(np.abs(clip)))
    gain = min(1.0, 0.999 / peak) if peak > 0 else 1.0
    stem = re.sub(r"[^A-Za-z0-9]+", "_", Path(track.path).stem).strip("_")[:40]
    name = f"{number:02d}-{track.package}-{stem}-{start / sample_rate:.0f}s.wav"
    tmp = out / f".{name}.tmp.wav"
    sf.write(str(tmp), clip * gain, sample_rate, subtype="PCM_16")
    os.replace(tmp, out / name)
    return {
        "file": name,
        "track_id": track.id,
        "source": track.path,
        "package": track.package,
        "start_seconds": round(start / sample_rate, 3),
        "seconds": seconds,
        "gain": round(gain, 6),
    }

"""Files and arrays -> :class:`Embedding` rows.

An ``.mzp`` file gives its integers without decoding audio (:func:`latents.read_frames`); an audio
file or array is read and coded on the fly: for the transform family by the encoder's own analysis
(:func:`latents.analysis_frames`, the same integers a file at that bitrate carries, without rate
control or entropy coding), for the autoencoder families by a real encode. Frames are pooled per
file or per segment (:mod:`pooling`) and, when a head is installed for the model, projected by it.

One call yields one space: inputs from different base models are refused in one line.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ..container import MAGIC
from ..errors import MuzipError
from .head import Head, load_head, unit
from .latents import Frames, analysis_frames, read_frames
from .pooling import PITCH, POOLING, pool, pool_pitch, segment_bounds
from .table import Embedding

MIN_FRAMES = 8  # shorter inputs (under 0.2 s) carry too little to describe


def space_of(model: str, head: Head | None, pitch: bool = False) -> str:
    return f"{model}/{POOLING}" + (f"/{head.head_id}" if head else "") + (f"+{PITCH}" if pitch else "")


class _Heads:
    """Resolves the head spec once per base model."""

    def __init__(self, spec: str) -> None:
        self.spec = spec
        self.cache: dict[str, Head | None] = {}

    def __call__(self, model: str) -> Head | None:
        if model not in self.cache:
            self.cache[model] = load_head(self.spec, model)
        return self.cache[model]


def embed_frames(frames: Frames, path: str, segments: float | None, head: Head | None) -> list[Embedding]:
    """Rows for one file's frames (one per segment, or one for the whole file)."""
    t = frames.values.shape[0]
    if t < MIN_FRAMES:
        raise MuzipError(f"{path}: too short to embed ({frames.duration:.2f} s)")
    bounds = segment_bounds(t, frames.rate, segments)
    pooled = np.stack([pool(frames.values[a:b]) for a, b in bounds])
    vecs = head(pooled) if head is not None else unit(pooled)
    pitch = frames.chroma is not None
    if pitch:  # two unit halves: timbre and rhythm | pitch classes
        assert frames.chroma is not None
        tonal = unit(np.stack([pool_pitch(frames.chroma[a:b]) for a, b in bounds]))
        vecs = np.concatenate([vecs, tonal], axis=1) / np.float32(np.sqrt(2.0))
    space = space_of(frames.model, head, pitch)
    rows = []
    for (a, b), v in zip(bounds, vecs, strict=True):
        start = a / frames.rate
        end = frames.duration if b == t else b / frames.rate
        rows.append(Embedding(path, round(start, 3), round(max(0.0, min(end, frames.duration) - start), 3),
                              frames.model, round(frames.kbps, 3), space, v))
    return rows


def _frames_of_audio(audio: np.ndarray, sample_rate: int, bitrate: str | float, model: str,
                     pitch: bool = False) -> Frames:
    from ..api import encode
    from ..models.registry import resolve
    from ..ratecontrol import parse_bitrate

    a = np.asarray(audio, np.float32)
    a = a[None] if a.ndim == 1 else a
    if a.ndim != 2 or a.shape[1] == 0:
        raise MuzipError("audio must be [channels, samples] with at least one sample")
    if not np.isfinite(a).all():
        raise MuzipError("audio contains NaN or infinite samples")
    entry = resolve(model)
    kbps = parse_bitrate(bitrate)
    if entry.family == "mdct" and not pitch:
        values = analysis_frames(a, sample_rate, kbps)
        from ..layered import SAMPLE_RATE
        from ..transform.codec import HOP

        return Frames(values, SAMPLE_RATE / HOP, entry.model_id, entry.family, float(kbps), a.shape[1] / sample_rate)
    return read_frames(encode(a, sample_rate, bitrate, entry.model_id), pitch=pitch)


def embed_audio(audio: np.ndarray, sample_rate: int, *, path: str = "<array>", segments: float | None = None,
                bitrate: str | float = "16k", model: str = "mdct", head: str = "auto",
                pitch: bool = False) -> list[Embedding]:
    """Rows for ``[channels, samples]`` (or ``[samples]``) float audio, coded at ``bitrate``; with
    ``pitch``, pitch-class statistics of the coded coefficients are appended (mdct only)."""
    frames = _frames_of_audio(audio, sample_rate, bitrate, model, pitch)
    return embed_frames(frames, path, segments, _Heads(head)(frames.model))


def _is_mzp(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) == MAGIC
    except OSError:
        return False


def frames_of_file(path: str | os.PathLike[str], bitrate: str | float = "16k", model: str = "mdct",
                   pitch: bool = False) -> Frames:
    """Frames of an .mzp file (read from its integers) or an audio file (coded on the fly)."""
    p = Path(path)
    if not p.exists():
        raise MuzipError(f"{p}: no such file")
    if p.is_dir():
        raise MuzipError(f"{p}: is a directory")
    if _is_mzp(p):
        return read_frames(p, pitch=pitch)
    if p.suffix.lower() == ".mzp":
        raise MuzipError(f"{p}: not a muzip file")
    from ..audio import read_audio

    audio, rate = read_audio(p)
    return _frames_of_audio(audio, rate, bitrate, model, pitch)


def embed_files(paths: Sequence[str | os.PathLike[str]], *, segments: float | None = None,
                bitrate: str | float = "16k", model: str = "mdct", head: str = "auto",
                on_error: Callable[[str, str], None] | None = None, pitch: bool = False) -> list[Embedding]:
    """Rows for ``paths`` (.mzp or audio files). A bad file raises :class:`MuzipError`, or with
    ``on_error`` is reported as ``on_error(path, message)`` and skipped. Inputs whose vectors would
    fall in different spaces (different base models) are refused in one line. ``pitch`` appends
    pitch-class statistics of the coded coefficients (mdct files; ~10x slower: the coefficients are
    decoded)."""
    if segments is not None and not segments > 0:
        raise MuzipError(f"--segments must be a positive number of seconds, got {segments:g}")
    heads = _Heads(head)
    rows: list[Embedding] = []
    first: tuple[str, str] | None = None
    for path in paths:
        name = str(path)
        try:
            frames = frames_of_file(path, bitrate, model, pitch)
            got = embed_frames(frames, name, segments, heads(frames.model))
        except MuzipError as exc:
            if on_error is None:
                raise
            on_error(name, str(exc))
            continue
        if first is None:
            first = (name, got[0].space)
        elif got[0].space != first[1]:
            raise MuzipError(f"vectors from different models cannot be mixed: {first[0]} is {first[1]}, "
                             f"{name} is {got[0].space} (embed them into separate tables)")
        rows.extend(got)
    return rows

"""The per-frame integers of a .mzp file, entropy-decoded without decoding audio.

- Transform family (``mdct``): the first coding channel's (mid's) band envelope, 24 bands at 43 Hz,
  as levels in dB (each packet's payload is decoded only up to the end of that envelope: no
  coefficient, no inverse transform).
- Autoencoder families (format 1.x): the first coding channel's dequantized latents (the range
  decoder and the model's prior; no decoder network runs).

Both come out as :class:`Frames`: ``values [T, D]`` float32 at ``rate`` frames per second.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

from ..errors import MuzipError

LEVEL_DB = 0.75  # one envelope level unit in dB (LEVEL_MIN -160 is -120 dBFS)
FLOOR_DB = -90.0  # silent bands and bands above the bandwidth read as this level


@dataclass
class Frames:
    values: np.ndarray  # [T, D] float32
    rate: float  # frames per second
    model: str  # base model id
    family: str  # "mdct", "freq" or "time"
    kbps: float  # the file's coded rate
    duration: float  # seconds of audio
    chroma: np.ndarray | None = None  # [T, 12] pitch-class energy of the mid coefficients (``pitch=True``)


def read_frames(source: str | os.PathLike[str] | bytes | BinaryIO, pitch: bool = False) -> Frames:
    """Frames of an .mzp file (a path, its bytes or an open binary file). With ``pitch`` (transform
    family only) the packets' coefficient integers are decoded too and give :attr:`Frames.chroma`
    (mid channel only, no noise fill, no inverse transform; about 10x the cost of the envelope alone)."""
    from ..api import MzpReader

    with MzpReader(source) as r:
        h = r.header
        duration = r.samples / r.sample_rate
        kbps = _kbps(r, duration)
        model = str(h["model"]["id"])
        family = str(h["model"]["family"])
        chroma = None
        if r.core is not None and pitch:
            values, chroma = _coefficient_frames(r)
        elif r.core is not None:  # the transform family
            values = _envelope_frames(r)
        elif pitch:
            raise MuzipError(f"pitch features need a transform-family (mdct) file; this one is '{model}'")
        else:
            parts = [r.packet_latents(p)[0].T for p in range(h.n_packets)]  # mid: [n, D]
            values = np.concatenate(parts, axis=0) if parts else np.zeros((0, h["latent_dim"]), np.float32)
        rate = float(h["model_sample_rate"]) / float(h["hop"])
    return Frames(np.ascontiguousarray(values, dtype=np.float32), rate, model, family, kbps, duration, chroma)


def _kbps(r, duration: float) -> float:  # type: ignore[no-untyped-def]
    try:
        size = os.fstat(r.f.fileno()).st_size
    except (AttributeError, OSError, ValueError):
        try:
            size = len(r.f.getbuffer())
        except AttributeError:
            return 0.0
    return 8.0 * size / max(duration, 1e-9) / 1000.0


def _envelope_frames(r) -> np.ndarray:  # type: ignore[no-untyped-def]
    core = r.core
    out = [np.maximum(core.envelope(k)[0] * core.p.m * LEVEL_DB, FLOOR_DB) for k in range(core.n_packets)]
    if not out:
        raise MuzipError("file holds no frames")
    return np.concatenate(out, axis=0)


# pitch classes of the long-frame MDCT bins between 100 Hz and 5 kHz (bin k is centred on
# (k + 1/2) * 44100 / 2048 Hz; below 100 Hz a bin spans several semitones)
_FREQ = (np.arange(1024) + 0.5) * 44100 / 2048
_PITCH_BINS = np.flatnonzero((_FREQ > 100) & (_FREQ < 5000))
_PITCH_CLASS = np.round(12 * np.log2(_FREQ[_PITCH_BINS] / 440.0)).astype(np.int64) % 12


def chroma_of(coefs: np.ndarray, types: np.ndarray) -> np.ndarray:
    """``[n, 12]`` pitch-class energy of one channel's dequantized coefficients ``[n, 1024]``;
    short frames (8 interleaved blocks: another bin layout) are all zero."""
    from ..transform.mdct import SHORT

    e = np.square(coefs[:, _PITCH_BINS])
    out = np.zeros((coefs.shape[0], 12))
    for pc in range(12):
        out[:, pc] = e[:, _PITCH_CLASS == pc].sum(axis=1)
    out[types == SHORT] = 0.0
    return out.astype(np.float32)


def _coefficient_frames(r) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[no-untyped-def]
    from ..transform.codec import reconstruct
    from ..transform.packet import PacketInts

    core = r.core
    c = core.fields["chunk_frames"]
    env, chroma = [], []
    for k in range(core.n_packets):
        ints = core.ints(k, first_only=True)
        mid = PacketInts(ints.types, ints.env[:1], ints.prof[:1], ints.q[:1], ints.cutoff)
        coefs = reconstruct(mid, core.p, k * c, fill="none")
        env.append(np.maximum(ints.env[0] * core.p.m * LEVEL_DB, FLOOR_DB))
        chroma.append(chroma_of(coefs[0], ints.types))
    return np.concatenate(env, axis=0), np.concatenate(chroma, axis=0)


def analysis_frames(audio: np.ndarray, sample_rate: int, kbps: float) -> np.ndarray:
    """The mid envelope frames ``[T, 24]`` (dB) that an mdct file coded at ``kbps`` would carry,
    computed by the encoder's own analysis without rate control or entropy coding (tests check it
    equals :func:`read_frames` of the coded file)."""
    a = np.asarray(audio)
    channels = 1 if a.ndim == 1 or a.shape[0] == 1 else 2
    from ..layered import env_step_for

    m = env_step_for(kbps / channels)
    return analysis_envelopes(audio, sample_rate, [m])[m]


def analysis_envelopes(audio: np.ndarray, sample_rate: int, steps: list[int]) -> dict[int, np.ndarray]:
    """:func:`analysis_frames` for several envelope steps from one analysis (for fitting the head
    on many excerpts: each step stands for the bitrates that use it)."""
    from ..audio import StreamResampler, to_mid_side
    from ..layered import SAMPLE_RATE, TransformEncoder, load_tables
    from ..models.registry import resolve

    a = np.asarray(audio, np.float32)
    a = a[None] if a.ndim == 1 else a
    channels = 1 if a.shape[0] == 1 else 2
    enc = TransformEncoder(channels, load_tables(resolve("mdct")))
    rs = StreamResampler(sample_rate, SAMPLE_RATE, a.shape[0])
    enc.push(to_mid_side(rs(a)))
    enc.push(to_mid_side(rs(np.zeros((a.shape[0], 0), np.float32), last=True)))
    out = {}
    for m in steps:
        env = np.concatenate([ints.env[0] for ints in enc.envelopes(m)], axis=0)
        out[m] = np.maximum(env * m * LEVEL_DB, FLOOR_DB).astype(np.float32)
    return out

"""Audio I/O, validation, resampling and the mid/side transform.

Audio is always float32 shaped ``[channels, samples]`` inside muzip. Reading is done in blocks so
that hour-long files never sit in memory whole.
"""

from __future__ import annotations

import os
import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from .errors import ClippingWarning, MuzipError
from .safeio import atomic_output, make_temp, remove_temp, spool_stdin  # noqa: F401  (re-exported: the output-safety layer)

MIN_RATE = 8000
MAX_RATE = 192000
MAX_CHANNELS = 2


class AudioInfo:
    """What the decoder must restore: rate, channels and the exact sample count."""

    def __init__(self, sample_rate: int, channels: int, frames: int, source_channels: int) -> None:
        self.sample_rate = sample_rate
        self.channels = channels
        self.frames = frames
        self.source_channels = source_channels

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate


def open_audio(path: str | os.PathLike[str]) -> sf.SoundFile:
    """Open a file for block reading, turning libsndfile's errors into one-line messages."""
    p = Path(path)
    if not p.exists():
        raise MuzipError(f"{p}: no such file")
    if p.is_dir():
        raise MuzipError(f"{p}: is a directory, expected an audio file")
    if p.stat().st_size == 0:
        raise MuzipError(f"{p}: file is empty")
    try:
        f = sf.SoundFile(str(p))
    except Exception as exc:  # libsndfile raises several types; all mean "not readable audio"
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return _open_with_ffmpeg(p, msg)
    return f


FFMPEG_RECIPE = "ffmpeg -i IN -f wav - | muzip encode - -o OUT.mzp"


def _open_with_ffmpeg(p: Path, why: str) -> sf.SoundFile:
    """Decode what libsndfile cannot read (M4A/AAC, ALAC, WMA, a video's soundtrack) with ffmpeg,
    when it is on PATH, into a temporary 32-bit float WAV (RF64 past 4 GB) that is unlinked as soon
    as it is open. The first audio stream is used; channels and rate are kept as they are."""
    import subprocess

    exe = shutil.which("ffmpeg")
    if exe is None:
        raise MuzipError(f"{p}: not a readable audio file ({why}); ffmpeg, which reads more formats "
                         f"(M4A, AAC, WMA, video), is not installed")
    tmp = make_temp(None, "muzip-ffmpeg-", ".wav")  # registered: removed even on a signal
    try:
        cmd = [exe, "-nostdin", "-hide_banner", "-v", "error", "-i", str(p), "-vn", "-map", "0:a:0",
               "-c:a", "pcm_f32le", "-rf64", "auto", "-f", "wav", "-y", tmp]
        try:
            run = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True)
        except OSError as exc:
            raise MuzipError(f"{p}: not a readable audio file ({why}); ffmpeg could not run: {exc}") from None
        last = next((ln for ln in reversed(run.stderr.decode(errors="replace").splitlines()) if ln.strip()), "")
        if run.returncode != 0 or os.path.getsize(tmp) == 0:
            detail = f"ffmpeg: {last.strip()[:200]}" if last else f"ffmpeg exit status {run.returncode}"
            raise MuzipError(f"{p}: not a readable audio file (libsndfile: {why}; {detail})")
        try:
            f = sf.SoundFile(tmp)
        except Exception as exc:
            raise MuzipError(f"{p}: ffmpeg's output is not readable ({exc})") from None
        f._name = str(p)  # messages name the user's file, not the temp file
        return f
    finally:
        remove_temp(tmp)  # an open file stays readable on POSIX


def check_stream(info: sf.SoundFile | AudioInfo, name: str) -> None:
    """Refuse what the codec cannot represent faithfully, before any output exists."""
    rate = info.samplerate if isinstance(info, sf.SoundFile) else info.sample_rate
    frames = info.frames
    channels = info.channels
    if not MIN_RATE <= rate <= MAX_RATE:
        raise MuzipError(f"{name}: sample rate {rate} Hz is outside the supported 8000-192000 Hz")
    if channels > MAX_CHANNELS:
        raise MuzipError(
            f"{name}: {channels} channels; muzip codes mono or stereo (downmix first, e.g. "
            f"`sox in.wav -c 2 out.wav`)"
        )
    if frames <= 0:
        raise MuzipError(f"{name}: contains no audio samples")


def iter_blocks(f: sf.SoundFile, block: int = 1 << 16) -> Iterator[np.ndarray]:
    """Yield ``[channels, n]`` float32 blocks; NaN/Inf samples are an error, not silence.

    Float input above full scale is coded as it is (nothing is clipped here); once the stream has
    been read, a :class:`ClippingWarning` says how far above 0 dBFS it went, because a 16-bit
    decode will have to clip it.
    """
    f.seek(0)
    pos = 0
    peak, over = 0.0, 0
    while True:
        data = f.read(block, dtype="float32", always_2d=True)
        if data.shape[0] == 0:
            break
        if not np.isfinite(data).all():
            bad = pos + int(np.argmax(~np.isfinite(data).all(axis=1)))
            raise MuzipError(f"{f.name}: sample {bad} is NaN or infinite")
        pos += data.shape[0]
        top = float(np.abs(data).max())
        if top > 1.0:
            peak, over = max(peak, top), over + int(np.count_nonzero(np.abs(data) > 1.0))
        yield np.ascontiguousarray(data.T)
    if over:
        warn_above_full_scale(str(f.name), peak, over)


def warn_above_full_scale(name: str, peak: float, samples: int) -> None:
    """One warning line for input above 0 dBFS (kept as it is by the encoder)."""
    warnings.warn(ClippingWarning(
        f"{name}: {samples} samples are above full scale (peak {20 * np.log10(peak):+.1f} dBFS); they are coded "
        f"as they are, but a 16-bit decode will clip them (decode with --float to keep them, or lower the level)"),
        stacklevel=2)


def read_audio(path: str | os.PathLike[str]) -> tuple[np.ndarray, int]:
    """Read a whole file as ``[channels, samples]`` float32 (for tests, bench and small files)."""
    with open_audio(path) as f:
        check_stream(f, str(path))
        blocks = list(iter_blocks(f))
        return np.concatenate(blocks, axis=1), f.samplerate


def write_audio(
    path: str | os.PathLike[str], audio: np.ndarray, sample_rate: int, subtype: str | None = None
) -> None:
    """Write ``[channels, samples]`` audio atomically (temp file in the same folder, then rename)."""
    p = Path(path)
    fmt = _format_for(p)
    with atomic_output(p) as tmp:
        sf.write(tmp, np.asarray(audio, dtype=np.float32).T, sample_rate, subtype=subtype, format=fmt)


def _format_for(p: Path) -> str:
    ext = p.suffix.lower().lstrip(".")
    known = {k.lower(): k for k in sf.available_formats()}
    if ext == "opus":
        return "OGG"
    if ext not in known:
        raise MuzipError(f"{p}: unknown output format '.{ext}' (use .wav, .flac or .ogg)")
    return known[ext]


def resample(audio: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """High-quality resampling of ``[channels, samples]`` with soxr (no-op when rates match)."""
    if rate_in == rate_out:
        return audio.astype(np.float32, copy=False)
    out = soxr.resample(audio.T, rate_in, rate_out, quality="HQ")
    return np.ascontiguousarray(np.asarray(out, dtype=np.float32).reshape(-1, audio.shape[0]).T)


class StreamResampler:
    """Block-wise soxr resampler whose concatenated output equals a one-shot resample."""

    def __init__(self, rate_in: int, rate_out: int, channels: int) -> None:
        self.identity = rate_in == rate_out
        self.channels = channels
        if not self.identity:
            self._rs = soxr.ResampleStream(rate_in, rate_out, channels, dtype="float32", quality="HQ")

    def __call__(self, block: np.ndarray, last: bool = False) -> np.ndarray:
        if self.identity:
            return block
        out = self._rs.resample_chunk(np.ascontiguousarray(block.T), last=last)
        return np.ascontiguousarray(np.asarray(out, dtype=np.float32).reshape(-1, self.channels).T)


def to_mid_side(audio: np.ndarray) -> np.ndarray:
    """Stereo L/R -> M/S (orthogonal up to the 1/2 scale); mono passes through."""
    if audio.shape[0] == 1:
        return audio
    left, right = audio[0], audio[1]
    return np.stack([(left + right) * 0.5, (left - right) * 0.5])


def from_mid_side(ms: np.ndarray) -> np.ndarray:
    """Inverse of :func:`to_mid_side`."""
    if ms.shape[0] == 1:
        return ms
    mid, side = ms[0], ms[1]
    return np.stack([mid + side, mid - side])

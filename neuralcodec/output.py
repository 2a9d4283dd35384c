"""The output side of decoding: channel and rate conversion, TPDF dither, clip count, tags, writing.

Decoded audio arrives as ``[channels, n]`` float32 blocks at the file's original rate. The sink
turns them into what the user asked for (``--channels``, ``--rate``), quantizes to 16 bits with
TPDF dither (or keeps 32-bit float with ``--float``), counts samples that had to be clipped, and
writes a file (atomically, tags included where the format holds them) or a WAV stream on stdout.

Quantization is done here, not by libsndfile, so a file and stdout get the same samples: a float
``x`` becomes ``round(x * 32767 + d)`` clipped to int16, ``d`` the difference of two uniform
numbers in [0, 1) (triangular, +-1 LSB). The noise generator is seeded: decoding is repeatable.
"""

from __future__ import annotations

import os
import struct
import sys
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import BinaryIO

import numpy as np

from .audio import StreamResampler, _format_for, atomic_output
from .errors import MuzipError
from .tags import from_header, sndfile_strings, write_tags

PCM16_SCALE = 32767.0


class ClippingWarning(UserWarning):
    """Decoded audio went above full scale and an integer (or lossy) output had to clip it."""
INT_SUBTYPES = {"WAV": "PCM_16", "FLAC": "PCM_16", "AIFF": "PCM_16"}


def convert_channels(block: np.ndarray, channels: int) -> np.ndarray:
    """Stereo -> mono as (L + R) / 2; mono -> stereo by copying; else unchanged."""
    if block.shape[0] == channels:
        return block
    if channels == 1:
        return block.mean(axis=0, keepdims=True, dtype=np.float32)
    if channels == 2 and block.shape[0] == 1:
        return np.concatenate([block, block], axis=0)
    raise MuzipError(f"cannot turn {block.shape[0]} channels into {channels}")


class Quantizer:
    """Float -> int16 with TPDF dither; counts the samples that clipped and the peak level."""

    def __init__(self, dither: bool = True, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed) if dither else None
        self.clipped = 0
        self.peak = 0.0

    def observe(self, block: np.ndarray) -> None:
        if block.size:
            self.peak = max(self.peak, float(np.abs(block).max()))
            self.clipped += int(np.count_nonzero(np.abs(block) > 1.0))

    def __call__(self, block: np.ndarray) -> np.ndarray:
        self.observe(block)
        x = block.astype(np.float64) * PCM16_SCALE
        if self.rng is not None:
            x += self.rng.random(x.shape) - self.rng.random(x.shape)
        return np.clip(np.round(x), -32768, 32767).astype(np.int16)


class AudioSink:
    """Write decoded blocks to ``dst`` (a path or '-' for a WAV stream on stdout).

    ``samples`` (at ``sample_rate``) is the length that will arrive; the output is cut or padded to
    exactly ``round(samples * rate / sample_rate)`` so a resampled file has a predictable length and
    the stdout WAV header is exact. Use as a context manager: the file appears only on success.
    """

    def __init__(self, dst: str | os.PathLike[str], sample_rate: int, channels: int, samples: int, *,
                 rate: int | None = None, out_channels: int | None = None, as_float: bool = False,
                 dither: bool = True, tags: Mapping[str, str] | None = None,
                 stdout: BinaryIO | None = None) -> None:
        self.rate = rate or sample_rate
        self.channels = out_channels or channels
        if self.channels not in (1, 2):
            raise MuzipError(f"--channels must be 1 or 2, not {self.channels}")
        if not 8000 <= self.rate <= 192000:
            raise MuzipError(f"--rate {self.rate} Hz is outside 8000-192000 Hz")
        self.as_float = as_float
        self.total = round(samples * self.rate / sample_rate)
        self.written = 0
        self.rs = StreamResampler(sample_rate, self.rate, self.channels)
        self.quant = Quantizer(dither)
        self.tags = from_header(tags)  # a malformed field from a file is dropped, not fatal
        self.tags_written = False
        self.to_stdout = str(dst) == "-"
        self._stream = stdout
        self._atomic: atomic_output | None = None
        self._file = None
        if not self.to_stdout:
            self.path = Path(dst)
            self.fmt = _format_for(self.path)
            if as_float and self.fmt not in ("WAV", "AIFF", "CAF", "W64", "RF64", "WAVEX"):
                raise MuzipError(f"{self.path}: --float needs a .wav output ({self.fmt} holds integer samples)")

    # -- context manager ------------------------------------------------------------------------
    def __enter__(self) -> AudioSink:
        if self.to_stdout:
            out = self._stream or sys.stdout.buffer
            out.write(wav_header(self.total, self.channels, self.rate, self.as_float))
            self._stream = out
        else:
            import soundfile as sf

            self._atomic = atomic_output(self.path)
            tmp = self._atomic.__enter__()
            try:
                subtype = ("FLOAT" if self.as_float else INT_SUBTYPES[self.fmt]) if self.fmt in INT_SUBTYPES \
                    else None
                self._file = sf.SoundFile(tmp, "w", self.rate, self.channels, subtype=subtype, format=self.fmt)
                self._tmp = tmp
                self._int = subtype == "PCM_16"
            except BaseException as exc:
                self._atomic.__exit__(type(exc), exc, None)
                raise
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        if exc_type is None:
            self._flush_tail()
        if self.to_stdout:
            if exc_type is None and self._stream is not None:
                self._stream.flush()
                if self.clipped:
                    warnings.warn(ClippingWarning(clip_message(self.clipped, self.peak,
                                                               self.written * self.channels)), stacklevel=2)
            return
        assert self._atomic is not None and self._file is not None
        try:
            if exc_type is None:
                strings = sndfile_strings(self.tags) if self.fmt in ("WAV", "AIFF") else {}
                for k, v in strings.items():
                    setattr(self._file, k, v)
                self.tags_written = bool(strings)
            self._file.close()
            if exc_type is None and self.fmt not in ("WAV", "AIFF"):
                self.tags_written = write_tags(self._tmp, self.tags, self.fmt)
        except BaseException as err:
            self._atomic.__exit__(type(err), err, None)
            raise
        self._atomic.__exit__(exc_type, exc, tb)
        if exc_type is None and self.clipped:
            warnings.warn(ClippingWarning(clip_message(self.clipped, self.peak, self.written * self.channels)),
                          stacklevel=2)

    # -- writing --------------------------------------------------------------------------------
    def write(self, block: np.ndarray) -> None:
        """Append ``[channels, n]`` float audio at the input rate and channel count."""
        self._emit(self.rs(convert_channels(np.asarray(block, np.float32), self.channels)))

    def _emit(self, block: np.ndarray) -> None:
        block = block[:, : max(0, self.total - self.written)]
        if not block.shape[1]:
            return
        self.written += block.shape[1]
        if self.to_stdout:
            assert self._stream is not None
            if self.as_float:
                self.quant.observe(block)
                self._stream.write(block.astype("<f4").T.tobytes())
            else:
                self._stream.write(self.quant(block).astype("<i2").T.tobytes())
            return
        assert self._file is not None
        if self._int:
            self._file.write(self.quant(block).T)
        elif self.as_float:
            self.quant.observe(block)
            self._file.write(block.T)
        else:  # lossy formats (OGG, MP3) take float; their encoders clip
            self.quant.observe(block)
            self._file.write(np.clip(block, -1.0, 1.0).T)

    def _flush_tail(self) -> None:
        self._emit(self.rs(np.zeros((self.channels, 0), np.float32), last=True))
        if self.written < self.total:
            self._emit(np.zeros((self.channels, self.total - self.written), np.float32))

    # -- what happened --------------------------------------------------------------------------
    @property
    def clipped(self) -> int:
        """Samples beyond full scale that an integer or lossy output had to clip (0 for --float)."""
        return 0 if self.as_float else self.quant.clipped

    @property
    def peak(self) -> float:
        return self.quant.peak


def clip_message(clipped: int, peak: float, total: int) -> str:
    """One line for a clipped decode: how much, how loud, what to do."""
    db = 20 * np.log10(max(peak, 1e-12))
    return (f"{clipped} of {total} samples clipped (peak {peak:.3f} = {db:+.1f} dBFS); "
            f"decode with --float to keep them")


def wav_header(frames: int, channels: int, rate: int, as_float: bool) -> bytes:
    """A RIFF/WAVE header for ``frames`` frames of int16 PCM or 32-bit IEEE float."""
    width = 4 if as_float else 2
    size = min(frames * channels * width, 0xFFFFFFFF - 64)
    if as_float:  # WAVE_FORMAT_IEEE_FLOAT: 18-byte fmt (cbSize 0) and a fact chunk, as libsndfile writes
        fmt = struct.pack("<HHIIHHH", 3, channels, rate, rate * channels * width, channels * width, 32, 0)
        fact = b"fact" + struct.pack("<II", 4, min(frames, 0xFFFFFFFF))
    else:
        fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * channels * width, channels * width, 16)
        fact = b""
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + fact + b"data" + struct.pack("<I", size)
    return b"RIFF" + struct.pack("<I", len(body) + size) + body

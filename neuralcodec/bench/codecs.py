"""The codecs the bench compares, behind one small interface.

Every codec turns a WAV file into an encoded file on disk (whose size gives the real bitrate)
and decodes that file back to float32 ``[channels, samples]``. Decoders may work at another
rate internally; ``decode(..., target_sr=...)`` brings the output back to the reference rate
with soxr, and that resampling counts as part of decoding, as it would for a listener.

Built-in codecs: ``mdct``, ``freq`` and ``time`` (muzip models through :mod:`neuralcodec.api`),
``mp3`` (lameenc), ``opus`` (opus-tools, else libsndfile's Ogg/Opus writer) and ``resample``
(downsample + lossless 16-bit FLAC). Any other command-line codec can be added with
:class:`ExternalSpec` (``--external`` on the command line).
"""

from __future__ import annotations

import importlib.metadata
import math
import re
import shlex
import shutil
import string
import subprocess
import tempfile
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import soxr

from neuralcodec.bench.measure import run_tool
from neuralcodec.bench.units import BenchError

MUZIP_MODELS: tuple[str, ...] = ("mdct", "freq", "time")
BUILTIN_CODECS: tuple[str, ...] = ("mdct", "freq", "time", "mp3", "opus", "resample")
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,31}$")


class CodecError(RuntimeError):
    """A codec could not encode or decode a clip; the run is reported as failed."""


class CodecUnavailable(CodecError):
    """A codec cannot run at all here (missing tool, model or package)."""


def read_audio(path: Path) -> tuple[np.ndarray, int]:
    """Read any libsndfile-readable file as float32 ``[channels, samples]``."""
    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise CodecError(f"cannot read {path.name}: {exc}") from exc
    return np.ascontiguousarray(data.T), int(sr)


def resample(audio: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Resample ``[channels, samples]`` with soxr's very-high-quality linear-phase filter."""
    if sr_in == sr_out:
        return audio.astype(np.float32, copy=False)
    out = soxr.resample(audio.T.astype(np.float32), sr_in, sr_out, quality="VHQ")
    return np.ascontiguousarray(np.asarray(out, dtype=np.float32).reshape(-1, audio.shape[0]).T)


def _package_version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


class Codec(ABC):
    """One codec under test.

    ``delay_samples`` is an optional hint (at the decoded rate) of the codec's fixed delay;
    alignment searches around it. ``detail`` describes the setting used by the last
    ``encode`` (e.g. the lame bitrate actually chosen) and ends up in the results.
    """

    name: str = ""
    delay_samples: int | None = None

    def __init__(self) -> None:
        self.detail: str = ""

    def prepare(self) -> dict[str, str]:
        """Check that the codec can run and warm it up; return version/backend facts."""
        return {}

    @abstractmethod
    def encode(self, wav_path: Path, kbps: float, workdir: Path) -> Path:
        """Encode ``wav_path`` at about ``kbps`` kbit/s into a file in ``workdir``."""

    def decode(
        self, encoded_path: Path, workdir: Path, target_sr: int | None = None
    ) -> tuple[np.ndarray, int]:
        """Decode to float32 ``[channels, samples]``, resampled to ``target_sr`` if given.

        The default reads any file libsndfile understands (MP3, FLAC, OGG); tools override it.
        """
        audio, sr = read_audio(encoded_path)
        return self._finish(audio, sr, target_sr)

    @staticmethod
    def _finish(audio: np.ndarray, sr: int, target_sr: int | None) -> tuple[np.ndarray, int]:
        if target_sr is not None and target_sr != sr:
            return resample(audio, sr, target_sr), target_sr
        return audio, sr


# ---------------------------------------------------------------------------------------- MP3

LAME_BITRATES: tuple[int, ...] = (
    8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160, 192, 224, 256, 320,
)


def nearest_lame_bitrate(kbps: float) -> int:
    """The CBR bitrate lame will use for a target: the nearest one MPEG-1/2/2.5 allows."""
    return min(LAME_BITRATES, key=lambda b: (abs(b - kbps), b))


class Mp3Codec(Codec):
    """MP3 via ``lameenc`` (LAME), CBR at the nearest legal bitrate, quality 2.

    lame picks a lower output sample rate by itself when a bitrate is too low for 44.1 kHz
    (e.g. 8 kbit/s -> 8 kHz, MPEG-2.5), exactly as the ``lame`` command does; the rate it chose
    is read back from the file and recorded. Decoding uses libsndfile (mpg123).
    """

    name = "mp3"

    def prepare(self) -> dict[str, str]:
        try:
            import lameenc  # noqa: F401
        except ImportError as exc:
            raise CodecUnavailable("the mp3 codec needs the lameenc package (pip install lameenc)") from exc
        if "MP3" not in sf.available_formats():
            raise CodecUnavailable("this libsndfile cannot read MP3; install libsndfile >= 1.1")
        return {"encoder": f"lameenc {_package_version('lameenc')}", "decoder": f"libsndfile {sf.__libsndfile_version__}"}

    def encode(self, wav_path: Path, kbps: float, workdir: Path) -> Path:
        import lameenc

        audio, sr = read_audio(wav_path)
        if audio.shape[0] > 2:
            raise CodecError(f"MP3 carries at most 2 channels, the clip has {audio.shape[0]}")
        bitrate = nearest_lame_bitrate(kbps)
        pcm = (np.clip(audio.T, -1.0, 1.0) * 32767.0).round().astype("<i2")
        enc = lameenc.Encoder()
        enc.set_bit_rate(bitrate)
        enc.set_in_sample_rate(sr)
        enc.set_channels(audio.shape[0])
        enc.set_quality(2)
        try:
            data = bytes(enc.encode(pcm.tobytes())) + bytes(enc.flush())
        except Exception as exc:  # lameenc raises plain Exceptions for bad settings
            raise CodecError(f"lame refused {bitrate} kbit/s at {sr} Hz: {exc}") from exc
        out = workdir / f"{wav_path.stem}.mp3"
        out.write_bytes(data)
        try:
            out_sr = sf.info(str(out)).samplerate
        except sf.LibsndfileError:
            out_sr = 0
        self.detail = f"lame CBR {bitrate} kbit/s, {out_sr} Hz"
        return out



# --------------------------------------------------------------------------------------- Opus


def _first_line(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    text = (out.stdout or out.stderr).strip().splitlines()
    return text[0] if text else "unknown"


class OpusCodec(Codec):
    """Opus at ``kbps`` (VBR, the encoder's default), decoded at 48 kHz.

    Backend ``opusenc``: opus-tools' ``opusenc --bitrate K`` / ``opusdec --float --rate 48000``.
    Backend ``libsndfile`` (used when opus-tools is missing): soundfile's Ogg/Opus writer, whose
    ``compression_level`` maps linearly to 6..256 kbit/s per channel (measured with libsndfile
    1.2); below 6 kbit/s per channel it codes a mono downmix. ``auto`` prefers opusenc. The
    backend used is recorded in the results, because the two differ in quality.
    """

    name = "opus"

    def __init__(self, backend: str = "auto") -> None:
        super().__init__()
        if backend not in ("auto", "opusenc", "libsndfile"):
            raise BenchError(f"unknown opus backend {backend!r}: use auto, opusenc or libsndfile")
        self.requested = backend
        self.backend = backend

    def prepare(self) -> dict[str, str]:
        have_tools = bool(shutil.which("opusenc") and shutil.which("opusdec"))
        if self.requested == "opusenc" and not have_tools:
            raise CodecUnavailable("opusenc/opusdec not found: apt-get install opus-tools")
        if self.requested == "auto":
            self.backend = "opusenc" if have_tools else "libsndfile"
        if self.backend == "opusenc":
            return {"backend": "opusenc", "encoder": _first_line(["opusenc", "--version"])}
        if "OPUS" not in sf.available_subtypes("OGG"):
            raise CodecUnavailable(
                "no Opus encoder: install opus-tools, or a libsndfile built with Opus"
            )
        return {"backend": "libsndfile", "encoder": f"libsndfile {sf.__libsndfile_version__}"}

    def encode(self, wav_path: Path, kbps: float, workdir: Path) -> Path:
        out = workdir / f"{wav_path.stem}.opus"
        if self.backend == "opusenc":
            run_tool(["opusenc", "--quiet", "--bitrate", f"{kbps:g}", str(wav_path), str(out)])
            self.detail = f"opusenc VBR {kbps:g} kbit/s"
            return out
        audio, sr = read_audio(wav_path)
        audio = resample(audio, sr, 48000)
        per_channel = kbps / audio.shape[0]
        if per_channel < 6.0 and audio.shape[0] > 1:
            audio = audio.mean(axis=0, keepdims=True)
            per_channel = kbps
        level = min(1.0, max(0.0, 1.0 - (per_channel - 6.0) / 250.0))
        sf.write(str(out), audio.T, 48000, format="OGG", subtype="OPUS", compression_level=level)
        self.detail = f"libsndfile Opus, {audio.shape[0]} ch, compression_level {level:.3f}"
        return out

    def decode(
        self, encoded_path: Path, workdir: Path, target_sr: int | None = None
    ) -> tuple[np.ndarray, int]:
        if self.backend == "opusenc":
            wav = workdir / f"{encoded_path.stem}.opusdec.wav"
            run_tool(["opusdec", "--quiet", "--float", "--rate", "48000", str(encoded_path), str(wav)])
            audio, sr = read_audio(wav)
        else:
            audio, sr = read_audio(encoded_path)
        return self._finish(audio, sr, target_sr)


# ----------------------------------------------------------------------------------- Resample


class ResampleCodec(Codec):
    """The "no codec" baseline: fewer samples, each kept losslessly.

    Encoding downsamples (soxr VHQ) to the highest integer sample rate whose 16-bit FLAC file
    (written by libsndfile, headers included) fits ``kbps * duration`` bits, found by bisection
    on the actual file size, since FLAC's compression ratio depends on the music. Channels are
    kept as they are (FLAC decorrelates stereo itself). The rate is searched from 100 Hz up to
    the source rate; if even 100 Hz does not fit, 100 Hz is used and the real bitrate shows
    the overshoot; if the source rate fits, the file is simply lossless. Decoding upsamples back
    with soxr.
    """

    name = "resample"
    MIN_RATE = 100

    def prepare(self) -> dict[str, str]:
        if "FLAC" not in sf.available_formats():
            raise CodecUnavailable("this libsndfile cannot write FLAC")
        return {"packing": f"FLAC PCM_16 via libsndfile {sf.__libsndfile_version__}", "resampler": f"soxr {_package_version('soxr')} VHQ"}

    def encode(self, wav_path: Path, kbps: float, workdir: Path) -> Path:
        audio, sr = read_audio(wav_path)
        duration = audio.shape[1] / sr
        budget = kbps * 1000.0 * duration / 8.0
        out = workdir / f"{wav_path.stem}.flac"

        def write(rate: int) -> int:
            sf.write(str(out), resample(audio, sr, rate).T, rate, format="FLAC", subtype="PCM_16")
            return out.stat().st_size

        if write(sr) <= budget:
            self.detail = f"FLAC 16-bit at {sr} Hz (lossless fits)"
            return out
        lo, hi = self.MIN_RATE, sr  # write(lo) assumed to fit, write(hi) does not
        if write(lo) > budget:
            self.detail = f"FLAC 16-bit at {lo} Hz (over budget)"
            return out
        while hi - lo > max(1, lo // 200):
            mid = int(math.sqrt(lo * hi))
            mid = min(max(mid, lo + 1), hi - 1)
            if write(mid) <= budget:
                lo = mid
            else:
                hi = mid
        write(lo)
        self.detail = f"FLAC 16-bit at {lo} Hz"
        return out



# ----------------------------------------------------------------------------------- External

_TEMPLATE_FIELDS = {"in", "out", "kbps", "bps", "sr", "channels"}


@dataclass(frozen=True)
class ExternalSpec:
    """A command-line codec given as two command templates.

    ``encode`` and ``decode`` are command lines split like a POSIX shell (no shell runs, so
    paths with spaces are safe) in which ``{in}``, ``{out}``, ``{kbps}`` (kbit/s, e.g. 16),
    ``{bps}`` (bit/s, e.g. 16000), ``{sr}`` and ``{channels}`` (of the source clip) are
    replaced. The encoder reads the WAV ``{in}`` and writes ``{out}`` (named ``clip.SUFFIX``);
    the decoder reads that and writes a file libsndfile can read (``{out}`` ends in .wav).
    """

    name: str
    encode: str
    decode: str
    suffix: str = "bin"


def parse_external(name: str, encode: str, decode: str) -> ExternalSpec:
    """Validate an ``--external NAME[.SUFFIX] ENCODE DECODE`` triple."""
    base, _, suffix = name.strip().lower().partition(".")
    if not _NAME_RE.match(base):
        raise BenchError(f"external codec name {name!r}: use letters, digits, '-' or '_'")
    if base in BUILTIN_CODECS:
        raise BenchError(f"external codec name {base!r} clashes with a built-in codec")
    if suffix and not re.match(r"^[a-z0-9]{1,8}$", suffix):
        raise BenchError(f"external codec suffix {suffix!r}: use up to 8 letters or digits")
    for which, template in (("encode", encode), ("decode", decode)):
        try:
            tokens = shlex.split(template)
        except ValueError as exc:
            raise BenchError(f"{base}: cannot split the {which} command: {exc}") from exc
        if not tokens:
            raise BenchError(f"{base}: the {which} command is empty")
        fields = {f for t in tokens for _, f, _, _ in string.Formatter().parse(t) if f is not None}
        unknown = fields - _TEMPLATE_FIELDS
        if unknown:
            raise BenchError(
                f"{base}: unknown placeholder(s) {', '.join(sorted(unknown))} in the {which} "
                f"command; allowed: {', '.join('{' + f + '}' for f in sorted(_TEMPLATE_FIELDS))}"
            )
        if not {"in", "out"} <= fields:
            raise BenchError(f"{base}: the {which} command must use both {{in}} and {{out}}")
    return ExternalSpec(base, encode, decode, suffix or "bin")


class ExternalCodec(Codec):
    """A codec run through command templates (see :class:`ExternalSpec`)."""

    def __init__(self, spec: ExternalSpec) -> None:
        super().__init__()
        self.spec = spec
        self.name = spec.name
        self._source: tuple[int, int] = (0, 0)

    def prepare(self) -> dict[str, str]:
        info: dict[str, str] = {}
        for which, template in (("encode", self.spec.encode), ("decode", self.spec.decode)):
            program = shlex.split(template)[0]
            if shutil.which(program) is None:
                raise CodecUnavailable(f"{self.name}: {which} program {program!r} not found")
            info[which] = template
        return info

    def _argv(self, template: str, values: dict[str, Any]) -> list[str]:
        return [token.format_map(values) for token in shlex.split(template)]

    def encode(self, wav_path: Path, kbps: float, workdir: Path) -> Path:
        info = sf.info(str(wav_path))
        self._source = (int(info.samplerate), int(info.channels))
        out = workdir / f"{wav_path.stem}.{self.spec.suffix}"
        values = {
            "in": str(wav_path), "out": str(out), "kbps": f"{kbps:g}",
            "bps": str(round(kbps * 1000)), "sr": info.samplerate, "channels": info.channels,
        }
        run_tool(self._argv(self.spec.encode, values))
        if not out.is_file():
            raise CodecError(f"{self.name}: the encoder wrote no file at {{out}}")
        self.detail = f"{self.name} at {kbps:g} kbit/s"
        return out

    def decode(
        self, encoded_path: Path, workdir: Path, target_sr: int | None = None
    ) -> tuple[np.ndarray, int]:
        wav = workdir / f"{encoded_path.stem}.{self.name}.decoded.wav"
        sr, channels = self._source
        values = {"in": str(encoded_path), "out": str(wav), "kbps": "", "bps": "", "sr": sr, "channels": channels}
        run_tool(self._argv(self.spec.decode, values))
        if not wav.is_file():
            raise CodecError(f"{self.name}: the decoder wrote no file at {{out}}")
        audio, rate = read_audio(wav)
        return self._finish(audio, rate, target_sr)


# -------------------------------------------------------------------------------------- muzip


class MuzipCodec(Codec):
    """A muzip model (``mdct``, ``freq`` or ``time``) through the project's own Python API.

    The bench never re-implements the codec: it calls ``neuralcodec.api.encode_file`` and
    ``decode_file`` exactly as ``muzip encode``/``decode`` do. ``prepare`` imports the API (and
    so torch) and runs one warm-up encode/decode of a 1 s clip, so that start-up and model
    loading are reported separately (``startup_s``) and the per-clip speed is the warm speed.
    """

    def __init__(self, model: str) -> None:
        super().__init__()
        if model not in MUZIP_MODELS:
            raise BenchError(f"unknown muzip model {model!r}; choose from {', '.join(MUZIP_MODELS)}")
        self.name = model
        self.model = model
        self._api: Any = None

    def prepare(self) -> dict[str, str]:
        try:
            from neuralcodec import api
        except Exception as exc:  # any import failure means the model cannot be benchmarked
            raise CodecUnavailable(f"muzip API not importable: {type(exc).__name__}: {exc}") from exc
        for fn in ("encode_file", "decode_file"):
            if not callable(getattr(api, fn, None)):
                raise CodecUnavailable(f"neuralcodec.api has no {fn}() yet")
        self._api = api
        with tempfile.TemporaryDirectory(prefix="muzip-bench-warmup-") as tmp:
            src = Path(tmp) / "warmup.wav"
            rng = np.random.default_rng(0)
            sf.write(str(src), (0.1 * rng.standard_normal((44100, 2))).astype(np.float32), 44100)
            try:
                enc = self.encode(src, 16.0, Path(tmp))
                self.decode(enc, Path(tmp))
            except Exception as exc:
                raise CodecUnavailable(
                    f"muzip model {self.model!r} failed its warm-up: {type(exc).__name__}: {exc}"
                ) from exc
        return {"api": "neuralcodec.api.encode_file/decode_file", "muzip": _package_version("muzip")}

    def encode(self, wav_path: Path, kbps: float, workdir: Path) -> Path:
        out = workdir / f"{wav_path.stem}.mzp"
        self._api.encode_file(str(wav_path), str(out), bitrate=f"{kbps:g}k", model=self.model, force=True, quiet=True)
        self.detail = f"muzip {self.model} --bitrate {kbps:g}k"
        return out

    def decode(
        self, encoded_path: Path, workdir: Path, target_sr: int | None = None
    ) -> tuple[np.ndarray, int]:
        wav = workdir / f"{encoded_path.stem}.mzp.wav"
        self._api.decode_file(str(encoded_path), str(wav), force=True, quiet=True)
        audio, sr = read_audio(wav)
        return self._finish(audio, sr, target_sr)


# ----------------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class CodecSpec:
    """A picklable recipe for a codec, so that worker processes can build their own."""

    name: str
    external: ExternalSpec | None = None
    opus_backend: str = "auto"


def make_codec(spec: CodecSpec) -> Codec:
    """Build the codec a spec names."""
    if spec.external is not None:
        return ExternalCodec(spec.external)
    if spec.name in MUZIP_MODELS:
        return MuzipCodec(spec.name)
    if spec.name == "mp3":
        return Mp3Codec()
    if spec.name == "opus":
        return OpusCodec(spec.opus_backend)
    if spec.name == "resample":
        return ResampleCodec()
    raise BenchError(f"unknown codec {spec.name!r}; choose from {', '.join(BUILTIN_CODECS)} or add --external")


def resolve_codecs(
    names: list[str], externals: list[ExternalSpec], opus_backend: str = "auto"
) -> list[CodecSpec]:
    """Turn ``--codecs`` names and ``--external`` definitions into specs (externals appended)."""
    by_name = {e.name: e for e in externals}
    if len(by_name) != len(externals):
        raise BenchError("two --external codecs share a name")
    specs: list[CodecSpec] = []
    for name in names:
        if name in by_name:
            specs.append(CodecSpec(name, by_name[name]))
        elif name in BUILTIN_CODECS:
            specs.append(CodecSpec(name, None, opus_backend))
        else:
            raise BenchError(
                f"unknown codec {name!r}; choose from {', '.join(BUILTIN_CODECS)} or define it with --external"
            )
    for ext in externals:
        if ext.name not in names:
            specs.append(CodecSpec(ext.name, ext))
    return specs

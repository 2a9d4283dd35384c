"""Each baseline codec round-trips a 5 s clip near its target bitrate."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from bench_testutil import write_music

from neuralcodec.bench.align import align
from neuralcodec.bench.codecs import (
    Codec,
    CodecSpec,
    ExternalCodec,
    Mp3Codec,
    OpusCodec,
    ResampleCodec,
    make_codec,
    nearest_lame_bitrate,
    parse_external,
    resolve_codecs,
)
from neuralcodec.bench.metrics import compute_metrics
from neuralcodec.bench.units import BenchError

HAVE_OPUSENC = bool(shutil.which("opusenc") and shutil.which("opusdec"))
HAVE_SF_OPUS = "OPUS" in sf.available_subtypes("OGG")


def _round_trip(codec: Codec, wav: Path, kbps: float, tmp_path: Path) -> tuple[float, dict[str, float]]:
    """Encode + decode; return the real kbit/s and metrics after alignment."""
    codec.prepare()
    work = tmp_path / f"{codec.name}-{kbps:g}"
    work.mkdir()
    encoded = codec.encode(wav, kbps, work)
    ref, sr = sf.read(str(wav), dtype="float32", always_2d=True)
    duration = ref.shape[0] / sr
    real_kbps = encoded.stat().st_size * 8 / duration / 1000
    audio, out_sr = codec.decode(encoded, work, target_sr=sr)
    assert out_sr == sr
    assert audio.dtype == np.float32 and audio.shape[0] == ref.shape[1]
    assert abs(audio.shape[1] - ref.shape[0]) < 0.3 * sr  # codec padding, not a different clip
    aligned, _ = align(ref.T, audio, max_lag=sr // 4)
    return real_kbps, compute_metrics(ref.T, aligned, sr)


@pytest.mark.parametrize("kbps", [16.0, 64.0])
def test_mp3_round_trip(tmp_path: Path, kbps: float) -> None:
    wav = write_music(tmp_path / "clip.wav", seconds=5.0)
    real, m = _round_trip(Mp3Codec(), wav, kbps, tmp_path)
    assert real == pytest.approx(kbps, rel=0.1)
    assert m["si_sdr_db"] > (0.0 if kbps < 32 else 8.0)  # alignment found lame's delay


def test_mp3_snaps_to_a_legal_bitrate() -> None:
    assert nearest_lame_bitrate(6) == 8
    assert nearest_lame_bitrate(20) == 16
    assert nearest_lame_bitrate(30) == 32
    assert nearest_lame_bitrate(1000) == 320


@pytest.mark.skipif(not HAVE_OPUSENC, reason="opus-tools (opusenc/opusdec) not installed")
@pytest.mark.parametrize("kbps", [8.0, 32.0])
def test_opus_round_trip_with_opus_tools(tmp_path: Path, kbps: float) -> None:
    codec = OpusCodec("opusenc")
    real, m = _round_trip(codec, write_music(tmp_path / "clip.wav", seconds=5.0), kbps, tmp_path)
    assert codec.backend == "opusenc"
    assert real == pytest.approx(kbps, rel=0.3)  # VBR on a short synthetic clip + Ogg overhead
    assert m["lsd_db"] < 40.0


@pytest.mark.skipif(not HAVE_SF_OPUS, reason="this libsndfile has no Ogg/Opus writer")
def test_opus_round_trip_with_libsndfile(tmp_path: Path) -> None:
    codec = OpusCodec("libsndfile")
    real, _ = _round_trip(codec, write_music(tmp_path / "clip.wav", seconds=5.0), 32.0, tmp_path)
    assert codec.backend == "libsndfile"
    assert real == pytest.approx(32.0, rel=0.3)


@pytest.mark.parametrize(("kbps", "channels"), [(16.0, 2), (64.0, 1)])
def test_resample_round_trip_fits_the_budget(
    tmp_path: Path, kbps: float, channels: int
) -> None:
    codec = ResampleCodec()
    real, m = _round_trip(codec, write_music(tmp_path / "clip.wav", seconds=5.0, channels=channels), kbps, tmp_path)
    assert 0.85 * kbps <= real <= kbps  # the largest rate whose FLAC file fits
    assert "Hz" in codec.detail
    assert np.isfinite(m["lsd_db"])


def test_resample_is_lossless_when_the_budget_allows(tmp_path: Path) -> None:
    wav = write_music(tmp_path / "clip.wav", seconds=1.0, channels=1, sr=8000)
    real, m = _round_trip(ResampleCodec(), wav, 500.0, tmp_path)
    assert real < 500.0
    assert m["mse"] < 1e-9


def test_external_codec_from_templates(tmp_path: Path) -> None:
    copy = f"{sys.executable} -c \"import shutil,sys; shutil.copy(sys.argv[1], sys.argv[2])\" {{in}} {{out}}"
    spec = parse_external("copycat.wav", copy, copy)
    codec = make_codec(CodecSpec(spec.name, spec))
    assert isinstance(codec, ExternalCodec)
    real, m = _round_trip(codec, write_music(tmp_path / "clip.wav", seconds=1.0), 16.0, tmp_path)
    assert real > 700  # an uncompressed copy: the real bitrate tells the truth, not the flag
    assert m["mse"] == 0.0


@pytest.mark.parametrize(
    ("name", "enc", "dec", "message"),
    [
        ("mp3", "x {in} {out}", "y {in} {out}", "clashes"),
        ("bad name", "x {in} {out}", "y {in} {out}", "name"),
        ("ok", "x {in}", "y {in} {out}", "must use both"),
        ("ok", "x {in} {out} {quality}", "y {in} {out}", "unknown placeholder"),
        ("ok", "", "y {in} {out}", "empty"),
    ],
)
def test_external_specs_are_validated(name: str, enc: str, dec: str, message: str) -> None:
    with pytest.raises(BenchError, match=message):
        parse_external(name, enc, dec)


def test_resolve_codecs_rejects_unknown_names_and_appends_externals() -> None:
    ext = parse_external("mine", "a {in} {out}", "b {in} {out}")
    specs = resolve_codecs(["mp3", "resample"], [ext])
    assert [s.name for s in specs] == ["mp3", "resample", "mine"]
    with pytest.raises(BenchError, match="unknown codec"):
        resolve_codecs(["flac"], [])

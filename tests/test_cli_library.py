"""`muzip test`, --verify, -V, ffmpeg input, decode options, the ML-facing API, fast start, bench extras."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import TINY_FREQ, TINY_TIME, music_like

import neuralcodec as nc
from neuralcodec import container
from neuralcodec.audio import resample
from neuralcodec.cli import LazyGroup, cli, main
from neuralcodec.errors import MuzipError
from neuralcodec.output import AudioSink, ClippingWarning, Quantizer


class _Stdout(io.StringIO):
    """sys.stdout stand-in with a binary .buffer, as the real one has."""

    def __init__(self) -> None:
        super().__init__()
        self.buffer = io.BytesIO()


def _call(args: list[str]) -> tuple[int, str, str, bytes]:
    out, err = _Stdout(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(args)
        except SystemExit as exc:
            code = int(exc.code or 0)
    raw = out.buffer.getvalue()  # click.echo may write text through .buffer
    return code, out.getvalue() + raw.decode("utf-8", "replace"), err.getvalue(), raw


def _packet_offsets(mzp: Path) -> list[int]:
    with open(mzp, "rb") as f:
        h, first = container.read_header(f)
        return container.read_index(f, h, first)


@pytest.fixture(scope="module")
def three_packets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An .mzp of 3 packets (256 frames x hop 1024 = 5.9 s each at 44.1 kHz)."""
    d = tmp_path_factory.mktemp("mzp")
    p = d / "a.mzp"
    p.write_bytes(nc.encode(music_like(13.0), 44100, model=TINY_FREQ))
    assert len(_packet_offsets(p)) == 3
    return p


# -- muzip test / --verify ---------------------------------------------------------------------------


def test_muzip_test_names_the_bad_packet(three_packets: Path, tmp_path: Path) -> None:
    """Acceptance: one byte flipped inside packet 2 -> FAIL packet 2; the good file OK; exit 1."""
    bad = tmp_path / "a.mzp"
    data = bytearray(three_packets.read_bytes())
    off = _packet_offsets(three_packets)[2]
    data[off + container.PACKET_OVERHEAD + 10] ^= 0x01
    bad.write_bytes(bytes(data))
    ok = tmp_path / "ok.mzp"
    ok.write_bytes(three_packets.read_bytes())
    code, out, err, _ = _call(["test", str(bad), str(ok)])
    assert code == 1, err
    lines = out.splitlines()
    assert lines[0].startswith(f"{bad}: FAIL packet 2") and "CRC" in lines[0]
    assert lines[1] == f"{ok}: OK"
    code, out, _, _ = _call(["test", str(ok), "-q"])
    assert code == 0 and out == ""
    code, out, _, _ = _call(["test", str(tmp_path), "--no-decode"])  # a folder: every .mzp in it
    assert code == 1 and "FAIL packet 2" in out and f"{ok}: OK" in out


def test_muzip_test_other_damage(three_packets: Path, tmp_path: Path) -> None:
    data = three_packets.read_bytes()
    cut = tmp_path / "cut.mzp"
    cut.write_bytes(data[: len(data) - 30])
    junk = tmp_path / "junk.mzp"
    junk.write_bytes(b"hello")
    idx = tmp_path / "idx.mzp"
    raw = bytearray(data)
    raw[-20] ^= 0xFF  # inside the index
    idx.write_bytes(bytes(raw))
    code, out, err, _ = _call(["test", str(cut), str(junk), str(idx), str(tmp_path / "none.mzp")])
    assert code == 1 and "Traceback" not in err
    lines = dict(line.split(": ", 1) for line in out.splitlines())
    assert all(v.startswith("FAIL") for v in lines.values()) and len(lines) == 4
    assert "index" in lines[str(idx)] and "no such file" in lines[str(tmp_path / "none.mzp")]


def test_encode_verify(wav, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    src = wav(seconds=1.0)
    out = tmp_path / "v.mzp"
    code, _, err, _ = _call(["encode", str(src), "-o", str(out), "-m", TINY_FREQ, "--verify"])
    assert code == 0 and "verified" in err, err

    import neuralcodec.api as api_mod

    def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise ValueError("decoder disagrees with encoder")

    monkeypatch.setattr(api_mod, "decode_packet", broken)
    bad = tmp_path / "bad.mzp"
    code, _, err, _ = _call(["encode", str(src), "-o", str(bad), "-m", TINY_FREQ, "--verify"])
    assert code == 1 and "verification failed" in err and "packet 0" in err and "Traceback" not in err
    assert not bad.exists() and not [p for p in os.listdir(tmp_path) if p.endswith(".part")]


# -- constant quality --------------------------------------------------------------------------------


def test_quality_scale(wav, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    src = wav(seconds=2.0)
    sizes = {}
    for q in ("0", "5", "10"):
        out = tmp_path / f"q{q}.mzp"
        code, _, err, _ = _call(["encode", str(src), "-o", str(out), "-m", TINY_TIME, "-V", q])
        assert code == 0 and f"quality {q}" in err, err
        with open(out, "rb") as f:
            sizes[q] = (out.stat().st_size, container.read_header(f)[0]["step_index"])
    # 0 -> the coarsest trained step (2^2), 10 -> the finest (2^-4); step index in 1/16 octaves
    assert sizes["0"][1] == 32 and sizes["5"][1] == -16 and sizes["10"][1] == -64
    assert sizes["0"][0] < sizes["5"][0] < sizes["10"][0]
    code, _, err, _ = _call(["encode", str(src), "-o", str(tmp_path / "x.mzp"), "-V", "5", "-b", "16k"])
    assert code == 2 and "exclude each other" in err
    code, _, err, _ = _call(["encode", str(src), "-o", str(tmp_path / "x.mzp"), "-V", "11"])
    assert code == 2
    assert nc.encode(music_like(0.5), 44100, model=TINY_TIME, quality=10)[:4] == b"MUZP"


# -- ffmpeg fallback ---------------------------------------------------------------------------------

FAKE_FFMPEG = """#!{python}
# stands in for ffmpeg: the "m4a" is b"FAKEM4A" + a WAV; writes the WAV to the last argument
import sys
args = sys.argv[1:]
src = args[args.index("-i") + 1]
data = open(src, "rb").read()
if not data.startswith(b"FAKEM4A"):
    sys.stderr.write(src + ": Invalid data found when processing input\\n")
    sys.exit(1)
open(args[-1], "wb").write(data[7:])
"""


def test_ffmpeg_fallback(wav, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    m4a = tmp_path / "song.m4a"
    m4a.write_bytes(b"FAKEM4A" + wav(seconds=1.0).read_bytes())
    empty_bin = tmp_path / "nobin"
    empty_bin.mkdir()
    monkeypatch.setenv("PATH", str(empty_bin))  # no ffmpeg here, even if the machine has one
    code, _, err, _ = _call(["encode", str(m4a), "-o", str(tmp_path / "no.mzp"), "-m", TINY_FREQ])
    lines = err.strip().splitlines()
    assert code == 1 and len(lines) == 1 and "ffmpeg" in lines[0] and "not installed" in lines[0], err

    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    exe = fake_bin / "ffmpeg"
    exe.write_text(FAKE_FFMPEG.format(python=sys.executable))
    exe.chmod(0o755)
    monkeypatch.setenv("PATH", str(fake_bin))
    out = tmp_path / "song.mzp"
    code, _, err, _ = _call(["encode", str(m4a), "-o", str(out), "-m", TINY_FREQ, "-q"])
    assert code == 0, err
    audio, rate = nc.decode(out.read_bytes())
    assert rate == 44100 and audio.shape == (2, 44100)
    assert not [p for p in os.listdir("/tmp") if p.startswith("muzip-ffmpeg-")]  # temp removed

    garbage = tmp_path / "bad.m4a"
    garbage.write_bytes(b"nothing an ffmpeg could read")
    code, _, err, _ = _call(["encode", str(garbage), "-o", str(tmp_path / "bad.mzp"), "-m", TINY_FREQ])
    assert code == 1 and "ffmpeg: " in err and "Invalid data" in err and len(err.strip().splitlines()) == 1


# -- decode options ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def short_mzp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("short") / "s.mzp"
    p.write_bytes(nc.encode(music_like(1.0), 44100, model=TINY_FREQ))
    return p


def test_float_on_stdout(short_mzp: Path) -> None:
    """Acceptance: decode -o - --float writes a 32-bit float WAV (16-bit without --float)."""
    code, _, err, data = _call(["decode", str(short_mzp), "-o", "-", "--float", "-q"])
    assert code == 0, err
    info = sf.info(io.BytesIO(data))
    assert data[:4] == b"RIFF" and info.subtype == "FLOAT" and info.frames == 44100 and info.channels == 2
    ref, _ = nc.decode(short_mzp.read_bytes())
    got, _ = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    np.testing.assert_array_equal(got.T, ref)  # float: the decoder's samples exactly, no clipping
    code, _, _, data16 = _call(["decode", str(short_mzp), "-o", "-", "-q"])
    assert code == 0 and sf.info(io.BytesIO(data16)).subtype == "PCM_16"


def test_rate_and_channels(short_mzp: Path, tmp_path: Path) -> None:
    out = tmp_path / "m.wav"
    code, _, err, _ = _call(["decode", str(short_mzp), "-o", str(out), "--rate", "22050", "--channels", "1", "-q"])
    assert code == 0, err
    info = sf.info(str(out))
    assert info.samplerate == 22050 and info.channels == 1 and info.frames == 22050
    ref, _ = nc.decode(short_mzp.read_bytes())
    want = resample(ref.mean(axis=0, keepdims=True), 44100, 22050)[0]
    got, _ = sf.read(out, dtype="float32")
    assert np.abs(got - want).max() < 3 / 32767  # the mono mix, resampled; 16-bit with +-1 LSB dither
    code, _, err, _ = _call(["decode", str(short_mzp), "-o", str(tmp_path / "x.wav"), "--channels", "3"])
    assert code == 2
    code, _, err, _ = _call(["decode", str(short_mzp), "-o", str(tmp_path / "x.flac"), "--float"])
    assert code == 1 and "--float needs a .wav" in err and not (tmp_path / "x.flac").exists()


def test_tpdf_dither() -> None:
    """A level between two 16-bit steps survives on average with dither and is lost without it."""
    x = np.full((1, 200_000), 0.3 / 32767, np.float32)
    plain = Quantizer(dither=False)(x)
    dithered = Quantizer(dither=True)(x)
    assert plain.max() == 0
    assert abs(dithered.mean() - 0.3) < 0.01
    assert set(np.unique(dithered)) <= {-1, 0, 1, 2}  # triangular: at most +-1 LSB around the value
    np.testing.assert_array_equal(Quantizer()(x), dithered)  # seeded: decoding is repeatable


def test_clipping_warning(tmp_path: Path) -> None:
    loud = np.concatenate([np.full((2, 10), 1.5, np.float32), np.zeros((2, 90), np.float32)], axis=1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with AudioSink(tmp_path / "c.wav", 44100, 2, 100) as sink:
            sink.write(loud)
    assert sink.clipped == 20 and [w.category for w in caught] == [ClippingWarning]
    assert "20 of 200 samples clipped" in str(caught[0].message) and "+3.5 dBFS" in str(caught[0].message)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with AudioSink(tmp_path / "f.wav", 44100, 2, 100, as_float=True) as sink:
            sink.write(loud)
    assert not caught and sf.read(tmp_path / "f.wav")[0].max() == pytest.approx(1.5)


# -- the API for ML code -----------------------------------------------------------------------------


def test_tensor_in_and_out() -> None:
    x = torch.randn(2, 44100) * 0.1
    x.requires_grad_(True)
    data = nc.encode(x, 44100, model=TINY_FREQ)
    assert isinstance(data, bytes) and data[:4] == b"MUZP"
    assert data == nc.encode(x.detach().numpy(), 44100, model=TINY_FREQ)  # same bytes as numpy
    y, rate = nc.decode(data, device="cpu", as_tensor=True)
    assert isinstance(y, torch.Tensor) and y.shape == (2, 44100) and rate == 44100
    if torch.cuda.is_available():
        assert nc.encode(x.cuda(), 44100, model=TINY_FREQ, device="cpu") == data


def test_acceptance_default_model_tensor() -> None:
    """Acceptance: nc.encode(torch.randn(2, 44100), 44100) returns bytes (the shipped model)."""
    assert isinstance(nc.encode(torch.randn(2, 44100), 44100, device="cpu"), bytes)


def test_batch_calls() -> None:
    from neuralcodec import decode_batch, encode_batch

    x = torch.from_numpy(np.stack([music_like(0.5, seed=s) for s in range(3)]))
    blobs = encode_batch(x, 44100, model=TINY_FREQ, device="cpu")
    assert len(blobs) == 3 and blobs[0] != blobs[1]
    assert blobs[2] == nc.encode(x[2], 44100, model=TINY_FREQ, device="cpu")
    batch, rate = decode_batch(blobs, device="cpu", as_tensor=True)
    assert isinstance(batch, torch.Tensor) and tuple(batch.shape) == (3, 2, 22050) and rate == 44100
    arr, _ = decode_batch(blobs, device="cpu")
    np.testing.assert_array_equal(arr[1], nc.decode(blobs[1], device="cpu")[0])
    ragged = encode_batch([music_like(0.5), music_like(0.25)], 44100, model=TINY_FREQ, device="cpu")
    with pytest.raises(MuzipError, match="one rate and shape"):
        decode_batch(ragged, device="cpu")


def test_package_is_typed() -> None:
    import neuralcodec

    assert (Path(neuralcodec.__file__).parent / "py.typed").exists()


# -- fast start, python -m, help, bench extras --------------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]


def _py(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=ROOT,
                          env=dict(os.environ, COLUMNS="100"))


def test_help_and_info_do_not_import_torch(short_mzp: Path) -> None:
    probe = ("import sys\nfrom neuralcodec.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
             "heavy = sorted(m for m in ('torch', 'neuralcodec.api', 'neuralcodec.train', 'matplotlib') if m in sys.modules)\n"
             "print('HEAVY', heavy)")
    for args in (["--help"], ["info", str(short_mzp)], ["encode", "--help"], ["test", "--help"]):
        r = _py(probe, *args)
        assert "HEAVY []" in r.stdout, (args, r.stdout, r.stderr)


def test_python_m_neuralcodec() -> None:
    r = subprocess.run([sys.executable, "-m", "neuralcodec", "--help"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0 and "encode" in r.stdout and "test" in r.stdout and "bench" in r.stdout


def test_lazy_help_lines_match_the_commands() -> None:
    import click

    for name, (_module, _attr, short) in LazyGroup.lazy.items():
        cmd = cli.get_command(click.Context(cli), name)
        assert cmd is not None and cmd.get_short_help_str(1000) == short, name


def test_bench_without_extras_is_one_line(tmp_path: Path) -> None:
    """Acceptance: after a plain install `muzip bench` stops at once, naming the extra."""
    hide = ("import importlib.abc, sys\n"
            "class Hide(importlib.abc.MetaPathFinder):\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name.split('.')[0] in {'matplotlib', 'visqol', 'lameenc'}:\n"
            "            raise ModuleNotFoundError(name)\n"
            "sys.meta_path.insert(0, Hide())\n"
            "from neuralcodec.cli import main\nmain(sys.argv[1:])\n")
    clip = tmp_path / "c.wav"
    sf.write(clip, music_like(0.5).T, 44100)
    r = _py(hide, "bench", str(clip), "-o", str(tmp_path / "out"))
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 1 and len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert 'pip install -e ".[bench]"' in lines[0] and "matplotlib" in lines[0]
    assert not (tmp_path / "out").exists()

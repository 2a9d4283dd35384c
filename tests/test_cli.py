"""The `muzip` command line, in-process (CliRunner) and as a real subprocess, and every bad input."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner
from conftest import TINY_FREQ, TINY_TIME, music_like, run_cli

import neuralcodec as nc
from neuralcodec.cli import cli


def _call(args: list[str]) -> tuple[int, str]:
    """Exit code and stderr of ``muzip ARGS`` run in-process (conftest.run_cli)."""
    code, _out, err = run_cli(args)
    return code, err


def test_encode_decode_info(wav, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    src = wav(seconds=2.0)
    code, msg = _call(["encode", str(src), "-m", TINY_FREQ, "-b", "16k", "-q"])
    assert code == 0, msg
    mzp = src.with_suffix(".mzp")
    assert mzp.exists()
    code, msg = _call(["decode", str(mzp), "-o", str(tmp_path / "y.wav"), "-q"])
    assert code == 0, msg
    y, r = sf.read(tmp_path / "y.wav", always_2d=True)
    assert r == 44100 and y.shape == (88200, 2)
    res = CliRunner().invoke(cli, ["info", str(mzp)])
    assert res.exit_code == 0 and "kbit/s" in res.output and TINY_FREQ in res.output and "laplace-range-v1" in res.output


def test_summary_on_stderr(wav) -> None:  # type: ignore[no-untyped-def]
    src = wav(seconds=1.0)
    code, msg = _call(["encode", str(src), "-m", TINY_TIME, "-o", str(src.with_suffix(".a.mzp"))])
    assert code == 0 and "kbit/s" in msg and "realtime" in msg and "bytes" in msg


def test_existing_output_needs_force(wav) -> None:  # type: ignore[no-untyped-def]
    src = wav(seconds=1.0)
    out = src.with_suffix(".mzp")
    out.write_bytes(b"precious")
    code, msg = _call(["encode", str(src), "-m", TINY_FREQ, "-q"])
    assert code == 1 and "already exists" in msg and "--force" in msg
    assert out.read_bytes() == b"precious"
    code, _ = _call(["encode", str(src), "-m", TINY_FREQ, "-q", "-f"])
    assert code == 0 and out.read_bytes()[:4] == b"MUZP"


def _err_one_line(code: int, msg: str, needle: str) -> None:
    assert code == 1, msg
    lines = [ln for ln in msg.strip().splitlines() if ln]
    assert len(lines) == 1 and lines[0].startswith("muzip: error:"), msg
    assert "Traceback" not in msg and needle in lines[0], msg


@pytest.mark.parametrize("case", ["missing", "not_audio", "empty", "zero_length", "nan", "inf", "six_channels",
                                  "directory", "bad_rate"])
def test_bad_audio_inputs(tmp_path: Path, case: str) -> None:
    p = tmp_path / "in.wav"
    needle = {"missing": "no such file", "not_audio": "not a readable audio file", "empty": "empty",
              "zero_length": "no audio samples", "nan": "NaN", "inf": "NaN or infinite", "six_channels": "6 channels",
              "directory": "directory", "bad_rate": "outside"}[case]
    if case == "not_audio":
        p.write_text("hello, I am not audio\n" * 20)
    elif case == "empty":
        p.write_bytes(b"")
    elif case == "zero_length":
        sf.write(p, np.zeros((0, 2), np.float32), 44100)
    elif case in ("nan", "inf"):
        x = music_like(0.5).T.copy()
        x[100, 1] = np.nan if case == "nan" else np.inf
        sf.write(p, x, 44100, subtype="FLOAT")
    elif case == "six_channels":
        sf.write(p, np.zeros((1000, 6), np.float32), 44100)
    elif case == "directory":
        p = tmp_path
    elif case == "bad_rate":
        sf.write(p, np.zeros((1000, 1), np.float32), 4000)
    out = tmp_path / "out.mzp"
    code, msg = _call(["encode", str(p), "-o", str(out), "-m", TINY_FREQ])
    _err_one_line(code, msg, needle)
    assert not out.exists()
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".part")]


def test_one_sample_audio_round_trips(tmp_path: Path) -> None:
    p = tmp_path / "one.wav"
    sf.write(p, np.array([[0.25]], np.float32), 44100)
    code, msg = _call(["encode", str(p), "-m", TINY_FREQ, "-q"])
    assert code == 0, msg
    code, msg = _call(["decode", str(p.with_suffix(".mzp")), "-o", str(tmp_path / "back.wav"), "-q"])
    assert code == 0, msg
    assert sf.info(str(tmp_path / "back.wav")).frames == 1


@pytest.fixture
def mzp(wav) -> Path:  # type: ignore[no-untyped-def]
    src = wav(seconds=14.0)
    assert _call(["encode", str(src), "-m", TINY_FREQ, "-q"])[0] == 0
    return src.with_suffix(".mzp")


def test_corrupted_packet_is_named(mzp: Path, tmp_path: Path) -> None:
    info = nc.info(mzp)
    data = bytearray(mzp.read_bytes())
    # second packet: after header and first packet
    off = info["header_bytes"] + 8 + info["packet_sizes"][0]
    data[off + 8 + 5] ^= 0xFF
    bad = tmp_path / "bad.mzp"
    bad.write_bytes(bytes(data))
    out = tmp_path / "o.wav"
    code, msg = _call(["decode", str(bad), "-o", str(out)])
    _err_one_line(code, msg, f"packet 1 at byte {off} is corrupted")
    assert not out.exists()


def test_truncated_file(mzp: Path, tmp_path: Path) -> None:
    bad = tmp_path / "cut.mzp"
    bad.write_bytes(mzp.read_bytes()[: mzp.stat().st_size // 2])
    code, msg = _call(["decode", str(bad), "-o", str(tmp_path / "o.wav")])
    _err_one_line(code, msg, "truncated")


def test_unknown_version(mzp: Path, tmp_path: Path) -> None:
    data = bytearray(mzp.read_bytes())
    data[4] = 7
    bad = tmp_path / "v7.mzp"
    bad.write_bytes(bytes(data))
    code, msg = _call(["decode", str(bad), "-o", str(tmp_path / "o.wav")])
    _err_one_line(code, msg, "version 7.0 is not supported")


def test_model_not_installed(mzp: Path, tmp_path: Path) -> None:
    import io

    from neuralcodec import container

    f = io.BytesIO(mzp.read_bytes())
    h, first = container.read_header(f)
    h.fields["model"]["id"] = "freq-deadbeef"
    data = h.to_bytes() + mzp.read_bytes()[first:]
    # the index offsets shift with the header size, but the decoder falls back to scanning
    bad = tmp_path / "other.mzp"
    bad.write_bytes(data)
    code, msg = _call(["decode", str(bad), "-o", str(tmp_path / "o.wav")])
    _err_one_line(code, msg, "needs model 'freq-deadbeef'")


def test_not_an_mzp_and_existing_decode_output(wav, tmp_path: Path, mzp: Path) -> None:  # type: ignore[no-untyped-def]
    fake = tmp_path / "fake.mzp"
    fake.write_bytes(wav("real.wav").read_bytes())
    code, msg = _call(["decode", str(fake), "-o", str(tmp_path / "o.wav")])
    _err_one_line(code, msg, "not an .mzp file")
    out = tmp_path / "keep.wav"
    out.write_bytes(b"mine")
    code, msg = _call(["decode", str(mzp), "-o", str(out)])
    _err_one_line(code, msg, "already exists")
    assert out.read_bytes() == b"mine"


def test_bad_bitrate_and_out_of_range(wav) -> None:  # type: ignore[no-untyped-def]
    src = wav(seconds=0.5)
    code, msg = _call(["encode", str(src), "-m", TINY_FREQ, "-b", "fast"])
    _err_one_line(code, msg, "not understood")
    code, msg = _call(["encode", str(src), "-m", "nosuchmodel"])
    _err_one_line(code, msg, "not installed")


def test_usage_error_exit_2() -> None:
    code, _ = _call(["encode"])
    assert code == 2


def test_seek_options(mzp: Path, tmp_path: Path) -> None:
    out = tmp_path / "part.wav"
    code, msg = _call(["decode", str(mzp), "--start", "3", "--duration", "2.5", "-o", str(out), "-q"])
    assert code == 0, msg
    assert sf.info(str(out)).frames == int(2.5 * 44100)


def test_subprocess_pipes(wav, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """`muzip encode - -o - | muzip decode - -o -` works as a real process with the tiny model."""
    src = wav(seconds=1.5)
    here = str(Path(__file__).parent)
    boot = f"import sys; sys.path.insert(0, {here!r}); import conftest; from neuralcodec.cli import main; main()"
    enc = subprocess.run([sys.executable, "-c", boot, "encode", "-", "-o", "-", "-m", TINY_FREQ, "-q"],
                         input=src.read_bytes(), capture_output=True, check=True)
    assert enc.stdout[:4] == b"MUZP"
    dec = subprocess.run([sys.executable, "-c", boot, "decode", "-", "-o", "-", "-q"], input=enc.stdout,
                         capture_output=True, check=True)
    assert dec.stdout[:4] == b"RIFF"
    (tmp_path / "p.wav").write_bytes(dec.stdout)
    assert sf.info(str(tmp_path / "p.wav")).frames == int(1.5 * 44100)
    bad = subprocess.run([sys.executable, "-c", boot, "decode", str(tmp_path / "nope.mzp")], capture_output=True)
    assert bad.returncode == 1 and b"Traceback" not in bad.stderr and b"no such file" in bad.stderr

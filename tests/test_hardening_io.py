"""Issue 12, the output side: nothing left behind, nothing overwritten by surprise, one line per failure."""

from __future__ import annotations

import io
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import TINY_FREQ, music_like, run_cli

from neuralcodec import safeio
from neuralcodec.errors import MuzipError

HERE = Path(__file__).parent
BOOT = f"import sys; sys.path.insert(0, {str(HERE)!r}); import conftest; from neuralcodec.launcher import main; main()"
LAUNCH = "from neuralcodec.launcher import main; main()"  # no torch before the handlers: as the console script


def _call(args: list[str]) -> tuple[int, str]:
    """Exit code and stderr of ``muzip ARGS`` run in-process (conftest.run_cli)."""
    code, _out, err = run_cli(args)
    return code, err


def _one_line(msg: str, start: str = "muzip: error:") -> str:
    lines = [ln for ln in msg.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith(start) and "Traceback" not in msg, msg
    return lines[0]


def _leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.endswith(".part") or p.name.startswith("muzip-")]


@pytest.fixture
def mzp(wav) -> Path:  # type: ignore[no-untyped-def]
    src = wav(seconds=1.0)
    assert _call(["encode", str(src), "-m", TINY_FREQ, "-q"])[0] == 0
    return src.with_suffix(".mzp")


# -- permissions and overwriting ---------------------------------------------------------------------

@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_outputs_honour_the_umask(wav, tmp_path: Path, mask: int) -> None:  # type: ignore[no-untyped-def]
    src = wav(seconds=0.3)
    old = os.umask(mask)
    try:
        assert _call(["encode", str(src), "-o", str(tmp_path / "a.mzp"), "-m", TINY_FREQ, "-q"])[0] == 0
        assert _call(["decode", str(tmp_path / "a.mzp"), "-o", str(tmp_path / "a.wav"), "-q"])[0] == 0
    finally:
        os.umask(old)
    for name in ("a.mzp", "a.wav"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o666 & ~mask


def test_no_overwrite_is_atomic(tmp_path: Path) -> None:
    """Another process creates the output after our check: our publish fails, theirs survives."""
    dst = tmp_path / "song.mzp"
    safeio.check_output(dst, force=False)
    with pytest.raises(MuzipError, match="already exists"):
        with safeio.atomic_output(dst) as tmp:
            Path(tmp).write_bytes(b"ours")
            dst.write_bytes(b"theirs")  # the racing encode finished first
    assert dst.read_bytes() == b"theirs" and _leftovers(tmp_path) == []
    safeio.check_output(dst, force=True)
    with safeio.atomic_output(dst) as tmp:
        Path(tmp).write_bytes(b"ours")
    assert dst.read_bytes() == b"ours"


def test_racing_encodes_one_wins(wav, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    src = wav(seconds=0.5)
    out = tmp_path / "race.mzp"
    procs = [subprocess.Popen([sys.executable, "-c", BOOT, "encode", str(src), "-o", str(out), "-m", TINY_FREQ, "-q"],
                              stderr=subprocess.PIPE) for _ in range(2)]
    results = [(p.wait(timeout=120), p.stderr.read().decode()) for p in procs]  # type: ignore[union-attr]
    codes = sorted(c for c, _ in results)
    assert codes[0] == 0 and out.read_bytes()[:4] == b"MUZP"
    if codes[1] != 0:  # the loser (when they overlapped) says why, in one line
        assert "already exists" in _one_line(next(m for c, m in results if c))
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("case,needle", [
    ("missing_folder", "does not exist"),
    ("under_a_file", "is not a folder"),
    ("device", "not a regular file"),
    ("proc", "cannot write"),
])
def test_impossible_output_refused_before_work(wav, tmp_path: Path, case: str, needle: str) -> None:  # type: ignore[no-untyped-def]
    src = wav(seconds=3.0)
    (tmp_path / "afile").write_text("x")
    dst = {"missing_folder": tmp_path / "nope" / "o.mzp",
           "under_a_file": tmp_path / "afile" / "o.mzp", "device": Path("/dev/null"),
           "proc": Path("/proc/muzip-test.mzp")}[case]
    t0 = time.perf_counter()
    code, msg = _call(["encode", str(src), "-o", str(dst), "-m", TINY_FREQ, "-f", "-q"])
    assert code == 1 and needle in _one_line(msg)
    assert time.perf_counter() - t0 < 5  # refused up front, not after encoding
    assert _leftovers(tmp_path) == [] and (tmp_path / "afile").read_text() == "x"


def test_existing_directory_as_output_file_refused_before_work(wav, mzp: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Through the API (on the command line, -o DIR is the batch path: outputs go into it)."""
    from neuralcodec import api

    folder = tmp_path / "out"
    folder.mkdir()
    for call in (lambda: api.encode_file(wav("w.wav", seconds=2.0), folder, model=TINY_FREQ, force=True),
                 lambda: api.decode_file(mzp, folder, force=True)):
        with pytest.raises(MuzipError, match="is a directory"):
            call()
    assert os.listdir(folder) == [] and _leftovers(tmp_path) == []


# -- signals ------------------------------------------------------------------------------------------

def _wait_for(cond, timeout: float = 60.0) -> bool:  # type: ignore[no-untyped-def]
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return True
        time.sleep(0.01)
    return False


@pytest.mark.parametrize("sig,code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_while_spooling_stdin(tmp_path: Path, sig: int, code: int) -> None:
    env = dict(os.environ, TMPDIR=str(tmp_path))
    p = subprocess.Popen([sys.executable, "-c", BOOT, "encode", "-", "-o", str(tmp_path / "o.mzp"), "-q"],
                         stdin=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert p.stdin is not None and p.stderr is not None
    p.stdin.write(b"RIFF" + b"\0" * 100_000)
    p.stdin.flush()
    assert _wait_for(lambda: any(n.startswith("muzip-stdin-") for n in os.listdir(tmp_path)))
    time.sleep(0.2)
    p.send_signal(sig)
    assert p.wait(timeout=60) == code
    msg = p.stderr.read().decode()
    p.stdin.close()
    _one_line(msg, "muzip: interrupted" if sig == signal.SIGINT else "muzip: terminated")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_in_the_first_second(tmp_path: Path, sig: int, code: int) -> None:
    """As the console script: the handlers are in place before torch is imported."""
    env = dict(os.environ, TMPDIR=str(tmp_path))
    p = subprocess.Popen([sys.executable, "-c", LAUNCH, "encode", "-", "-o", str(tmp_path / "o.mzp")],
                         stdin=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    time.sleep(0.4)  # inside the imports (torch takes seconds here), or spooling: either way one line
    p.send_signal(sig)
    assert p.wait(timeout=60) == code
    assert p.stderr is not None
    _one_line(p.stderr.read().decode(), "muzip: ")
    assert os.listdir(tmp_path) == []


def test_sigterm_while_writing_output(tmp_path: Path) -> None:
    src = tmp_path / "long.wav"
    # long enough that the decode is still running when the signal lands, even on a busy machine
    # (with 60 s it once finished between the check below and the signal: exit 0, not 143)
    sf.write(src, music_like(180.0, 44100, 2).T, 44100, subtype="PCM_16")
    assert _call(["encode", str(src), "-m", TINY_FREQ, "-q", "-o", str(tmp_path / "long.mzp")])[0] == 0
    out = tmp_path / "out.wav"
    p = subprocess.Popen([sys.executable, "-c", BOOT, "decode", str(tmp_path / "long.mzp"), "-o", str(out), "-q"],
                         stderr=subprocess.PIPE)
    seen = _wait_for(lambda: bool(_leftovers(tmp_path)) or p.poll() is not None)
    assert seen and p.poll() is None, "decode ended before its .part could be seen"
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=60) == 143
    assert p.stderr is not None
    _one_line(p.stderr.read().decode(), "muzip: terminated")
    assert _leftovers(tmp_path) == [] and not out.exists()


# -- pipes and full disks -------------------------------------------------------------------------------

def test_closed_stdout_pipe_is_an_error(mzp: Path) -> None:
    r, w = os.pipe()
    os.close(r)  # nobody will read: every write gets EPIPE
    p = subprocess.run([sys.executable, "-c", BOOT, "decode", str(mzp), "-o", "-", "-q"], stdout=w,
                       stderr=subprocess.PIPE, timeout=120)
    os.close(w)
    assert p.returncode == 1
    assert "broken pipe" in _one_line(p.stderr.decode())


def test_full_disk_on_stdout(mzp: Path) -> None:
    with open("/dev/full", "wb") as full:
        p = subprocess.run([sys.executable, "-c", BOOT, "decode", str(mzp), "-o", "-", "-q"], stdout=full,
                           stderr=subprocess.PIPE, timeout=120)
    assert p.returncode == 1 and "No space left" in _one_line(p.stderr.decode())


@pytest.mark.parametrize("command", ["decode", "encode"])
def test_file_size_limit_mid_write(mzp: Path, tmp_path: Path, command: str) -> None:
    """A disk that fills mid-write (simulated with RLIMIT_FSIZE): one line, no partial output."""
    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (512, 512))

    src = mzp if command == "decode" else mzp.with_suffix(".wav")
    out = tmp_path / ("full.wav" if command == "decode" else "full.mzp")
    p = subprocess.run([sys.executable, "-c", BOOT, command, str(src), "-o", str(out), "-q", "-m", TINY_FREQ]
                       if command == "encode" else
                       [sys.executable, "-c", BOOT, command, str(src), "-o", str(out), "-q"],
                       stderr=subprocess.PIPE, timeout=120, preexec_fn=limit)
    assert p.returncode == 1
    _one_line(p.stderr.decode())
    assert not out.exists() and _leftovers(tmp_path) == []


def test_write_all_retries_short_writes() -> None:
    class Trickle(io.RawIOBase):
        def __init__(self) -> None:
            self.data = b""

        def writable(self) -> bool:
            return True

        def write(self, b) -> int:  # type: ignore[no-untyped-def,override]
            self.data += bytes(b[:3])
            return min(3, len(b))

    t = Trickle()
    safeio.write_all(t, b"0123456789")  # type: ignore[arg-type]
    assert t.data == b"0123456789"

    class Stuck(Trickle):
        def write(self, b) -> int:  # type: ignore[no-untyped-def,override]
            return 0

    with pytest.raises(MuzipError, match="short write"):
        safeio.write_all(Stuck(), b"x")  # type: ignore[arg-type]


# -- honest input --------------------------------------------------------------------------------------

@pytest.mark.parametrize("args", [["--start", "nan"], ["--duration", "inf"], ["--start", "-inf"],
                                  ["--duration", "nan"]])
def test_non_finite_seek_is_a_usage_error(mzp: Path, tmp_path: Path, args: list[str]) -> None:
    code, msg = _call(["decode", str(mzp), "-o", str(tmp_path / "o.wav"), *args])
    assert code == 2 and "finite" in msg and "Traceback" not in msg


def test_float_input_above_full_scale_warns(tmp_path: Path) -> None:
    x = music_like(0.5).T * 4.0  # about +5 dBFS peaks
    src = tmp_path / "hot.wav"
    sf.write(src, x, 44100, subtype="FLOAT")
    code, msg = _call(["encode", str(src), "-o", str(tmp_path / "hot.mzp"), "-m", TINY_FREQ])
    assert code == 0
    warned = [ln for ln in msg.splitlines() if ln.startswith("muzip: warning:")]
    assert len(warned) == 1 and "above full scale" in warned[0] and "dBFS" in warned[0], msg
    quiet = tmp_path / "ok.wav"
    sf.write(quiet, music_like(0.5).T, 44100, subtype="FLOAT")
    code, msg = _call(["encode", str(quiet), "-o", str(tmp_path / "ok.mzp"), "-m", TINY_FREQ])
    assert code == 0 and "warning" not in msg


def test_float_output_is_not_clipped(tmp_path: Path) -> None:
    from neuralcodec.output import AudioSink

    dst = tmp_path / "f.wav"
    block = np.array([[0.5, 1.7, -2.5]], np.float32)
    with AudioSink(dst, 44100, 1, 3, as_float=True) as sink:
        sink.write(block)
    y, _ = sf.read(dst, dtype="float32", always_2d=True)
    np.testing.assert_array_equal(y[:, 0], block[0])

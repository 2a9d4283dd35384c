"""Many files per call: mirrored trees, --jobs workers, resumable runs, failures that stop nothing."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import soundfile as sf
from conftest import TINY_FREQ, music_like, run_cli

from neuralcodec.batch import AUDIO_EXTS, plan
from neuralcodec.threads import free_cores, pick_threads

_call = run_cli  # (exit code, stdout, stderr) of ``muzip ARGS`` run in-process


def _library(root: Path, seconds: float = 1.0) -> list[Path]:
    """3 files in 2 sub-folders (plus things a scan must ignore)."""
    files = [root / "rock" / "a.wav", root / "rock" / "b.flac", root / "jazz" / "deep" / "c.wav"]
    for i, f in enumerate(files):
        f.parent.mkdir(parents=True, exist_ok=True)
        sf.write(f, music_like(seconds, seed=i).T, 44100, subtype="PCM_16")
    (root / "rock" / "cover.jpg").write_bytes(b"\xff\xd8 not audio")
    (root / ".hidden").mkdir()
    sf.write(root / ".hidden" / "x.wav", music_like(0.2).T, 44100)
    return files


def _mtimes(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in sorted(folder.rglob("*")) if p.is_file()}


def test_folder_mirrored_with_two_jobs_then_skipped(tmp_path: Path) -> None:
    """Acceptance: lib/ -o out/ --jobs 2 writes the mirrored tree; a second run skips all 3."""
    _library(tmp_path / "lib")
    out = tmp_path / "out"
    code, _, err = _call(["encode", str(tmp_path / "lib"), "-o", str(out), "-m", TINY_FREQ, "--jobs", "2"])
    assert code == 0, err
    assert sorted(_mtimes(out)) == ["jazz/deep/c.mzp", "rock/a.mzp", "rock/b.mzp"]
    assert "3 encoded" in err and "2 jobs" in err
    before = _mtimes(out)
    code, stdout, err = _call(["encode", str(tmp_path / "lib"), "-o", str(out), "-m", TINY_FREQ, "--jobs", "2",
                               "--json"])
    assert code == 0, err
    assert _mtimes(out) == before
    summary = json.loads(stdout)
    assert summary["skipped"] == 3 and summary["done"] == 0 and summary["failed"] == 0
    assert {f["status"] for f in summary["files"]} == {"skipped"}


def test_one_corrupt_input_stops_nothing(tmp_path: Path) -> None:
    _library(tmp_path / "lib", seconds=0.5)
    bad = tmp_path / "lib" / "rock" / "broken.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVE garbage" * 4)
    out = tmp_path / "out"
    code, _, err = _call(["encode", str(tmp_path / "lib"), "-o", str(out), "-m", TINY_FREQ])
    assert code == 1
    assert sorted(_mtimes(out)) == ["jazz/deep/c.mzp", "rock/a.mzp", "rock/b.mzp"]
    assert "1 of 4 files failed" in err and f"{bad}: not a readable audio file" in err
    assert "Traceback" not in err
    assert not list(out.rglob("*.part")) and not list(out.rglob(".*"))


def test_stale_output_needs_force_and_fresh_ones_are_kept(tmp_path: Path) -> None:
    files = _library(tmp_path / "lib", seconds=0.5)
    out = tmp_path / "out"
    assert _call(["encode", str(tmp_path / "lib"), "-o", str(out), "-m", TINY_FREQ, "-q"])[0] == 0
    stale = out / "rock" / "a.mzp"
    os.utime(stale, (1, 1))  # older than its input: the input changed since
    code, _, err = _call(["encode", str(tmp_path / "lib"), "-o", str(out), "-m", TINY_FREQ])
    assert code == 1 and "older than its input" in err and "--force" in err and "2 up to date" in err
    assert stale.stat().st_mtime == 1
    code, _, err = _call(["encode", str(tmp_path / "lib"), "-o", str(out), "-m", TINY_FREQ, "-f"])
    assert code == 0 and "3 encoded" in err and stale.stat().st_mtime > files[0].stat().st_mtime - 1


def test_several_files_without_output_folder_go_beside_inputs(tmp_path: Path) -> None:
    a, b, _ = _library(tmp_path / "lib", seconds=0.5)
    code, _, err = _call(["encode", str(a), str(b), "-m", TINY_FREQ, "-q"])
    assert code == 0, err
    assert a.with_suffix(".mzp").exists() and b.with_suffix(".mzp").exists()


def test_decode_a_folder_and_usage_errors(tmp_path: Path) -> None:
    _library(tmp_path / "lib", seconds=0.5)
    mz = tmp_path / "mz"
    assert _call(["encode", str(tmp_path / "lib"), "-o", str(mz), "-m", TINY_FREQ, "-q"])[0] == 0
    back = tmp_path / "back"
    code, _, err = _call(["decode", str(mz), "-o", str(back), "--format", "flac", "-j", "1"])
    assert code == 0, err
    assert sorted(_mtimes(back)) == ["jazz/deep/c.flac", "rock/a.flac", "rock/b.flac"]
    assert sf.info(str(back / "rock" / "a.flac")).frames == 22050
    (mz / "rock" / "zz.mzp").write_bytes(b"MUZP nonsense")
    code, _, err = _call(["decode", str(mz), "-o", str(back), "--format", "flac"])
    assert code == 1 and "zz.mzp" in err and "3 up to date" in err

    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    code, _, _ = _call(["encode", str(tmp_path / "lib"), str(tmp_path / "lib"), "-o", str(a_file)])
    assert code == 2  # -o must be a folder with several inputs
    code, _, _ = _call(["encode", "-", str(tmp_path / "lib"), "-o", str(tmp_path / "o")])
    assert code == 2  # stdin only alone


def test_plan_mirrors_and_refuses_collisions(tmp_path: Path) -> None:
    _library(tmp_path / "lib")
    other = tmp_path / "other" / "rock"
    other.mkdir(parents=True)
    sf.write(other / "a.wav", music_like(0.1).T, 44100)
    jobs = plan([tmp_path / "lib", tmp_path / "other", tmp_path / "missing.wav"], tmp_path / "out", ".mzp", AUDIO_EXTS)
    dst = {j.label: (j.dst.relative_to(tmp_path / "out").as_posix(), j.error) for j in jobs}
    assert dst[str(tmp_path / "lib" / "rock" / "a.wav")] == ("rock/a.mzp", None)
    assert dst[str(tmp_path / "lib" / "jazz" / "deep" / "c.wav")] == ("jazz/deep/c.mzp", None)
    assert "already writes" in (dst[str(other / "a.wav")][1] or "")
    assert dst[str(tmp_path / "missing.wav")][1] == "no such file"
    assert not any("hidden" in j.label or j.label.endswith(".jpg") for j in jobs)


def test_thread_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert free_cores(cores=2, load=0.0) == 2
    assert free_cores(cores=2, load=1.1) == 1  # one other busy process: one thread, not two
    assert free_cores(cores=2, load=7.0) == 1  # never zero
    assert free_cores(cores=16, load=3.4) == 13
    assert pick_threads(jobs=4, cores=16, load=0.0) == 4  # workers split the cores
    assert pick_threads(jobs=3, cores=2, load=0.0) == 1
    assert pick_threads(jobs=1, requested=3, cores=2, load=5.0) == 3  # --threads decides
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert pick_threads(jobs=1, cores=16, load=0.0) == 1
    with pytest.raises(ValueError):
        pick_threads(requested=0)

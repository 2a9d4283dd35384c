"""End to end: ``muzip bench`` on two short clips writes the table, JSON, report and plots."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from bench_testutil import write_music
from click.testing import CliRunner

from neuralcodec.bench.command import bench_command


def test_two_clip_bench_writes_results_report_and_plots(
    tmp_path: Path
) -> None:
    clips = tmp_path / "clips"
    write_music(tmp_path / "clips/one.wav", seconds=4.0, seed=1)
    write_music(tmp_path / "clips/nested/two.flac", seconds=3.0, sr=32000, channels=1, seed=2)
    (clips / "notes.txt").write_text("not audio")
    out = tmp_path / "out"
    broken = f"{sys.executable} -c \"raise SystemExit('boom')\" {{in}} {{out}}"
    args = [
        str(clips), "--codecs", "mp3,resample", "--bitrates", "16k", "--seconds", "3",
        "--external", "broken", broken, broken, "--out", str(out), "--jobs", "2",
    ]
    result = CliRunner().invoke(bench_command, args)
    assert result.exit_code == 0, result.output

    data = json.loads((out / "results.json").read_text())
    assert {c["id"] for c in data["clips"]} == {"one", "two"}
    assert all(abs(c["duration_s"] - 3.0) < 1e-6 for c in data["clips"])
    assert data["environment"]["visqol_python"]
    runs = {(r["codec"], r["clip"]): r for r in data["runs"]}
    assert len(runs) == 6
    for codec in ("mp3", "resample"):
        for clip in ("one", "two"):
            r = runs[(codec, clip)]
            assert r["ok"], r["error"]
            assert r["real_kbps"] == r["encoded_bytes"] * 8 / r["duration_s"] / 1000
            assert 1.0 <= r["metrics"]["visqol"] <= 5.0
            assert r["encode_rtf"] > 0 and r["decode_rtf"] > 0
            for key in ("lsd_db", "si_sdr_db", "mel_distance", "mse", "mae", "r2"):
                assert r["metrics"][key] is not None
    # A failing codec is reported, and the others still ran.
    assert not runs[("broken", "one")]["ok"]
    assert "boom" in runs[("broken", "one")]["error"]
    summary = {(s["codec"], s["target_kbps"]): s for s in data["summary"]}
    assert summary[("broken", 16.0)]["failed"] == 2
    assert summary[("mp3", 16.0)]["failed"] == 0

    report = (out / "report.md").read_text()
    assert "| mp3 | 16 |" in report and "## Failed runs" in report and "boom" in report
    for png in ("visqol_vs_kbps.png", "lsd_vs_kbps.png", "sisdr_vs_kbps.png", "speed.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(out.glob(".work-*")), "the work folder must be cleaned up"

    again = CliRunner().invoke(bench_command, args)
    assert again.exit_code == 2 and "--force" in again.output


def test_bad_usage_is_a_one_line_error(tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(bench_command, [str(tmp_path / "nope.wav"), "--out", str(tmp_path / "o")])
    assert missing.exit_code == 2 and "no such file or folder" in missing.output
    rate = runner.invoke(bench_command, [str(tmp_path), "--bitrates", "fast"])
    assert rate.exit_code == 2 and "bitrate" in rate.output
    codec = runner.invoke(bench_command, [str(tmp_path), "--codecs", "flac"])
    assert codec.exit_code == 2 and "unknown codec" in codec.output
    (tmp_path / "empty").mkdir()
    empty = runner.invoke(bench_command, [str(tmp_path / "empty"), "--out", str(tmp_path / "o2")])
    assert empty.exit_code == 2 and "no audio files" in empty.output
    assert all("Traceback" not in r.output for r in (missing, rate, codec, empty))

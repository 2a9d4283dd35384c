"""The muzip codecs go through neuralcodec.api in a worker; a missing model fails only its runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bench_testutil import write_music
from click.testing import CliRunner

from neuralcodec.bench.command import bench_command


def _install_tiny_freq_model(folder: Path) -> None:
    """Write a tiny random freq model + manifest where ``MUZIP_MODELS`` will point."""
    torch = pytest.importorskip("torch")
    from neuralcodec.models.freq import FreqCodec, freq_config
    from neuralcodec.models.registry import save_weights

    torch.manual_seed(0)
    model = FreqCodec(freq_config(latent_dim=16, context_frames=8, extra={
        "fine_dim": 16, "dim": 32, "enc_blocks": 1, "dec_blocks": 1, "fine_blocks": 1}))
    entry = save_weights(model, folder, {"note": "bench test model, random weights"})
    (folder / "manifest.json").write_text(json.dumps({"models": [entry]}))


def test_muzip_codec_runs_through_the_api_and_missing_models_fail_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _install_tiny_freq_model(tmp_path / "models")
    monkeypatch.setenv("MUZIP_MODELS", str(tmp_path / "models"))  # inherited by the worker
    clip = write_music(tmp_path / "song.wav", seconds=2.0)
    out = tmp_path / "out"
    args = [str(clip), "--codecs", "freq,time,resample", "--bitrates", "16k", "--no-visqol", "--out", str(out)]
    result = CliRunner().invoke(bench_command, args)
    assert result.exit_code == 0, result.output
    data = json.loads((out / "results.json").read_text())
    runs = {r["codec"]: r for r in data["runs"]}
    freq = runs["freq"]
    assert freq["ok"], freq["error"]
    assert freq["detail"] == "muzip freq --bitrate 16k"
    assert freq["real_kbps"] > 0 and freq["encode_rtf"] > 0
    status = {c["name"]: c for c in data["codecs"]}
    assert status["freq"]["startup_s"] > 0
    assert not runs["time"]["ok"] and "not installed" in runs["time"]["error"]
    assert runs["resample"]["ok"]

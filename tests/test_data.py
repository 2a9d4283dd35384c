"""Data pipeline tests on tiny generated audio; no Debian package needs to be installed."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from click.testing import CliRunner
from rich.console import Console

from neuralcodec.data import (
    NO_AUGMENT,
    Augment,
    DataError,
    ExcerptSampler,
    Track,
    active_starts,
    assign_splits,
    build_corpus,
    data_command,
    fma_tracks,
    group_key,
    load_tracks,
    make_validation_clips,
    write_manifest,
)
from neuralcodec.data import corpus as corpus_mod


def _music(seconds: float, rate: int, channels: int, seed: int, level: float = 0.3) -> np.ndarray:
    """Deterministic noise + tone, [frames, channels]."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    base = level * np.sin(2 * np.pi * (220 + 40 * seed) * t) + 0.05 * rng.standard_normal(t.size)
    out = np.stack([base * (1.0 - 0.3 * c) for c in range(channels)], axis=1)
    return out.astype(np.float32)


@pytest.fixture()
def packages(tmp_path: Path) -> dict[str, list[Path]]:
    """Two fake packages: mono and stereo tracks at 22.05/48 kHz, tune variants, a short effect."""
    files: dict[str, list[Path]] = {"pkg-a": [], "pkg-b": []}
    root = tmp_path / "pkgs"
    for i, name in enumerate(["alpha", "beta", "gamma", "delta", "epsilon", "alpha_old", "zeta"]):
        path = root / "a" / "music" / f"{name}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, _music(1.5, 22050, 1 if i % 2 else 2, i), 22050)
        files["pkg-a"].append(path)
    blip = root / "a" / "sounds" / "blip.wav"
    blip.parent.mkdir(parents=True)
    sf.write(blip, _music(0.2, 22050, 1, 99), 22050)
    files["pkg-a"] += [blip, root / "a" / "readme.txt"]
    for i, name in enumerate(["one", "two", "three", "four"]):
        path = root / "b" / f"{name}.flac"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, _music(1.2, 48000, 2, 10 + i), 48000)
        files["pkg-b"].append(path)
    return files


@pytest.fixture()
def corpus(tmp_path: Path, packages: dict[str, list[Path]], monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(corpus_mod, "package_files", lambda p: packages.get(p))
    return build_corpus(tmp_path / "corpus", ["pkg-a", "pkg-b"], 0.3, min_seconds=1.0)


def test_group_key_ties_variants_but_not_numbered_tracks() -> None:
    assert group_key("x/cave_old.ogg") == group_key("y/cave.ogg") == "cave"
    assert group_key("track3_enhanced.opus") == "track3"
    assert group_key("airship_2.ogg") == group_key("airship_remix.ogg")
    assert group_key("track4.opus") != group_key("track5.opus")


def test_split_is_by_track_group_and_deterministic(corpus: Path, tmp_path: Path,
                                                   packages: dict[str, list[Path]]) -> None:
    tracks = load_tracks(corpus)
    assert {t.package for t in tracks} == {"pkg-a", "pkg-b"}
    assert not any(Path(t.path).name in ("blip.wav", "readme.txt") for t in tracks)
    for package in ("pkg-a", "pkg-b"):
        splits = {t.split for t in tracks if t.package == package}
        assert splits == {"train", "validation"}, package
    by_name = {Path(t.path).stem: t.split for t in tracks}
    assert by_name["alpha"] == by_name["alpha_old"]
    again = build_corpus(tmp_path / "again", ["pkg-a", "pkg-b"], 0.3, min_seconds=1.0)
    assert json.loads(again.read_text())["tracks"] == json.loads(corpus.read_text())["tracks"]
    only_a = build_corpus(tmp_path / "only_a", ["pkg-a"], 0.3, min_seconds=1.0)
    assert {t.id: t.split for t in load_tracks(only_a)} == {
        t.id: t.split for t in tracks if t.package == "pkg-a"
    }


def test_missing_package_is_skipped_with_apt_hint(tmp_path: Path, packages: dict[str, list[Path]],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(corpus_mod, "package_files", lambda p: packages.get(p))
    out = io.StringIO()
    build_corpus(tmp_path / "c", ["pkg-a", "nosuch-music"], min_seconds=1.0,
                 console=Console(file=out, width=200))
    assert "apt-get install -y nosuch-music" in out.getvalue()
    with pytest.raises(DataError, match="apt-get install -y nosuch-music"):
        build_corpus(tmp_path / "d", ["nosuch-music"], min_seconds=1.0)


def test_manifest_round_trip_and_bad_input(tmp_path: Path) -> None:
    tracks = [
        Track(f"p:{i}", f"/m/{i}.ogg", "p", f"g{i}", 30.0 + i, 44100, 2, (30 + i) * 44100)
        for i in range(5)
    ]
    tracks = assign_splits(tracks, 0.4, seed=3)
    path = write_manifest(tracks, tmp_path / "manifest.json", seed=3)
    assert sorted(load_tracks(path), key=lambda t: t.id) == sorted(tracks, key=lambda t: t.id)
    assert {t.split for t in load_tracks(path, "validation")} == {"validation"}
    with pytest.raises(DataError, match="no tracks"):
        write_manifest([], tmp_path / "empty.json")
    (tmp_path / "empty.json").write_text('{"version": 1, "tracks": []}')
    with pytest.raises(DataError, match="lists no tracks"):
        load_tracks(tmp_path / "empty.json")
    with pytest.raises(DataError, match="unknown split"):
        load_tracks(path, "dev")
    with pytest.raises(DataError, match="no manifest"):
        load_tracks(tmp_path / "missing")


def test_changed_manifest_needs_force(corpus: Path, packages: dict[str, list[Path]]) -> None:
    with pytest.raises(DataError, match="--force"):
        build_corpus(corpus.parent, ["pkg-a", "pkg-b"], 0.5, min_seconds=1.0)
    build_corpus(corpus.parent, ["pkg-a", "pkg-b"], 0.5, min_seconds=1.0, force=True)


def test_sampler_shapes_rate_split_and_determinism(corpus: Path) -> None:
    sampler = ExcerptSampler(corpus, "train", excerpt_seconds=0.25, seed=1)
    x = sampler.sample()
    assert x.shape == (2, int(0.25 * 44100)) and x.dtype == torch.float32
    assert {t.split for t in sampler.tracks} == {"train"}
    # every cached track is at 44.1 kHz whatever its source rate
    for track, audio in zip(sampler.tracks, sampler._audio, strict=True):
        assert abs(audio.shape[0] - track.duration * 44100) <= 2
    assert sampler.memory_bytes == sum(a.shape[0] * 4 for a in sampler._audio)
    batch = sampler.batch(8)
    assert batch.shape == (8, 2, 11025) and float(batch.abs().max()) <= 0.999
    val = ExcerptSampler(corpus, "validation", excerpt_seconds=0.25, augment=False, length=5)
    assert {t.split for t in val.tracks} == {"validation"}
    first, second = list(val), list(val)
    assert len(first) == 5 and all(torch.equal(a, b) for a, b in zip(first, second, strict=True))
    loader = torch.utils.data.DataLoader(val, batch_size=5)
    assert next(iter(loader)).shape == (5, 2, 11025)


def test_sampler_mono_duplicated_ms_view_and_silence(tmp_path: Path) -> None:
    mono = tmp_path / "mono.wav"
    sf.write(mono, _music(1.0, 16000, 1, 1), 16000)
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros((16000, 2), np.float32), 16000)
    tracks = [
        Track("t:mono", str(mono), "t", "mono", 1.0, 16000, 1, 16000),
        Track("t:silent", str(silent), "t", "silent", 1.0, 16000, 2, 16000),
    ]
    plain = ExcerptSampler(tracks, None, excerpt_seconds=0.1, augment=False, in_memory=True)
    for _ in range(20):  # half the audio is silent, yet never returned
        x = plain.sample()
        assert torch.equal(x[0], x[1]) and float(x.abs().max()) > 0.01
    assert plain.redraws > 0
    ms = ExcerptSampler(tracks, None, excerpt_seconds=0.1, augment=Augment(ms_view_prob=1.0),
                        in_memory=True)
    x = ms.sample()
    assert float(x[1].abs().max()) < 1e-6 < float(x[0].abs().max())  # side of a mono signal is 0
    with pytest.raises(DataError, match="cache_dir"):
        ExcerptSampler(tracks, None)
    with pytest.raises(DataError, match="at least 5"):
        ExcerptSampler(tracks[:1], None, excerpt_seconds=5.0, in_memory=True)
    assert NO_AUGMENT.gain_db == (0.0, 0.0)


def _write_mp3(path: Path, audio: np.ndarray, rate: int) -> None:
    import lameenc

    encoder = lameenc.Encoder()
    encoder.set_bit_rate(128)
    encoder.set_in_sample_rate(rate)
    encoder.set_out_sample_rate(rate)
    encoder.set_channels(audio.shape[1])
    encoder.set_quality(7)
    pcm = (np.clip(audio, -1, 1) * 32767).astype(np.int16)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encoder.encode(pcm.tobytes()) + encoder.flush())


def test_fma_folder_reader(tmp_path: Path) -> None:
    root = tmp_path / "fma"
    splits = {2: "training", 5: "validation", 140: "test", 141: "training"}  # 141: no file
    for i, tid in enumerate([2, 5, 140]):
        name = f"{tid:06d}"
        _write_mp3(root / "fma_small" / name[:3] / f"{name}.mp3", _music(1.5, 44100, 2, i), 44100)
    meta = root / "fma_metadata"
    meta.mkdir(parents=True)
    with open(meta / "tracks.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["", "album", "set", "set", "track"])
        w.writerow(["", "title", "split", "subset", "title"])
        w.writerow(["track_id", "", "", "", ""])
        for tid, split in splits.items():
            w.writerow([tid, "A, B", split, "small", f"song {tid}"])
    tracks = {t.id: t for t in fma_tracks(root)}
    assert set(tracks) == {"fma:000002", "fma:000005", "fma:000140"}
    assert [tracks[f"fma:{t:06d}"].split for t in (2, 5, 140)] == ["train", "validation", "test"]
    assert tracks["fma:000002"].sample_rate == 44100 and tracks["fma:000002"].duration > 1.0
    sampler = ExcerptSampler(list(tracks.values()), "train", excerpt_seconds=0.5, in_memory=True)
    assert [t.id for t in sampler.tracks] == ["fma:000002"] and sampler.sample().shape == (2, 22050)
    with pytest.raises(DataError, match="tracks.csv"):
        fma_tracks(tmp_path)


def test_validation_clips_are_held_out_and_deterministic(corpus: Path, tmp_path: Path) -> None:
    records = make_validation_clips(corpus, tmp_path / "clips", n=4, seconds=0.5)
    val_ids = {t.id for t in load_tracks(corpus, "validation")}
    assert records and all(r["track_id"] in val_ids for r in records)
    assert len({r["package"] for r in records}) == 2
    for r in records:
        info = sf.info(str(tmp_path / "clips" / r["file"]))
        assert (info.samplerate, info.channels, info.subtype, info.frames) == (44100, 2, "PCM_16", 22050)
    again = make_validation_clips(corpus, tmp_path / "clips2", n=4, seconds=0.5)
    assert again == records
    loud = np.zeros((44100 * 5, 2), np.float32)
    loud[44100 * 3 : 44100 * 4] = 0.5
    assert active_starts(loud, 44100, 1.0) == [44100 * 3]


def test_data_command(tmp_path: Path, packages: dict[str, list[Path]],
                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(corpus_mod, "package_files", lambda p: packages.get(p))
    out = tmp_path / "cli"
    result = CliRunner().invoke(
        data_command, [str(out), "-p", "pkg-a,pkg-b", "--min-seconds", "1", "--val-fraction", "0.3"]
    )
    assert result.exit_code == 0, result.output
    assert len(load_tracks(out)) == 11 and len(list((out / "cache").glob("*.npy"))) == 11
    bad = CliRunner().invoke(data_command, [str(tmp_path / "x"), "-p", "nosuch-music"])
    assert bad.exit_code == 1 and "apt-get install -y nosuch-music" in bad.output

"""Past one machine (issue 11): batch coding on Ray with a results manifest, DDP training with torchrun.

The Ray tests share one local Ray instance (2 CPUs) started once for the module and stopped at its
end; they are skipped only when Ray is not installed. The torchrun tests launch 2 CPU processes
with gloo.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf
from conftest import TINY_FREQ, music_like, run_cli

from neuralcodec.batch import AUDIO_EXTS, plan, run
from neuralcodec.manifest import DEFAULT_NAME, read_entries, sha256_file

ROOT = Path(__file__).resolve().parents[1]


def _library(root: Path, n: int = 6, seconds: float = 0.5) -> list[Path]:
    files = []
    for i in range(n):
        f = root / ("a" if i % 2 else "b") / f"t{i}.wav"
        f.parent.mkdir(parents=True, exist_ok=True)
        sf.write(f, music_like(seconds, seed=i).T, 44100, subtype="PCM_16")
        files.append(f)
    return files


def _tree(folder: Path, suffix: str = ".mzp") -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob(f"*{suffix}"))}


@pytest.fixture(scope="module")
def ray_local():  # type: ignore[no-untyped-def]
    ray = pytest.importorskip("ray")
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield ray
    ray.shutdown()


# -- Ray engine ------------------------------------------------------------------------------------------


def test_ray_embed_gives_the_local_table(tmp_path: Path, ray_local) -> None:  # type: ignore[no-untyped-def]
    """`muzip embed --engine ray` (actors, chunks of files) writes the same rows in the same order as
    a local run; a bad file is named and the run exits 1 with the good rows written."""
    pytest.importorskip("pyarrow")
    from neuralcodec.embedding.table import read_table

    lib = tmp_path / "lib"
    files = _library(lib, n=5, seconds=1.0)
    (lib / "bad.mzp").write_bytes(b"not a muzip file")
    code, _, err = run_cli(["embed", str(lib), "-o", str(tmp_path / "local.parquet"), "-q"])
    assert code == 1 and "bad.mzp" in err
    code, _, err = run_cli(["embed", str(lib), "-o", str(tmp_path / "ray.parquet"), "--engine", "ray", "--jobs", "2",
                            "-q"])
    assert code == 1 and "bad.mzp" in err
    a, b = read_table(tmp_path / "local.parquet"), read_table(tmp_path / "ray.parquet")
    assert a.paths == b.paths and len(a) == len(files) and a.space == b.space
    assert (a.vectors == b.vectors).all()
    code, _, err = run_cli(["embed", str(lib), "-o", str(tmp_path / "x.parquet"), "--jobs", "2"])
    assert code == 2 and "--engine ray" in err and not (tmp_path / "x.parquet").exists()



def test_ray_encode_and_decode_match_local_bytes(tmp_path: Path, ray_local) -> None:  # type: ignore[no-untyped-def]
    """Acceptance: 6 files on a local Ray (2 actors) give the same bytes as `--jobs 1`; the manifest
    records each file once, done, with the sha256 of what is on disk; decode matches too."""
    lib = tmp_path / "lib"
    _library(lib)
    code, _, err = run_cli(["encode", str(lib), "-o", str(tmp_path / "local"), "--jobs", "1", "-q"])
    assert code == 0, err
    code, out, err = run_cli(["encode", str(lib), "-o", str(tmp_path / "ray"), "--engine", "ray", "--jobs", "2",
                              "--json"])
    assert code == 0, err
    summary = json.loads(out)
    assert summary["engine"] == "ray" and summary["jobs"] == 2 and summary["done"] == 6
    assert "2 Ray actors" in err and f"results in {tmp_path / 'ray' / DEFAULT_NAME}" in err
    local, remote = _tree(tmp_path / "local"), _tree(tmp_path / "ray")
    assert len(local) == 6 and remote == local
    entries = list(read_entries(tmp_path / "ray" / DEFAULT_NAME))
    assert len(entries) == 6 and {e["status"] for e in entries} == {"done"}
    for e in entries:
        assert e["sha256"] == sha256_file(e["output"]) and e["kbps"] > 0 and e["seconds"] > 0
        assert e["bytes"] == Path(e["output"]).stat().st_size and e["attempt"] == 1
    assert len({e["worker"] for e in entries}) <= 2  # two actors coded all six: one model load each
    assert not list((tmp_path / "ray").rglob("*.part"))

    code, _, err = run_cli(["decode", str(tmp_path / "local"), "-o", str(tmp_path / "wl"), "-q"])
    assert code == 0, err
    code, _, err = run_cli(["decode", str(tmp_path / "ray"), "-o", str(tmp_path / "wr"), "--engine", "ray", "-q"])
    assert code == 0, err
    wav_local, wav_ray = _tree(tmp_path / "wl", ".wav"), _tree(tmp_path / "wr", ".wav")
    assert len(wav_local) == 6 and wav_ray == wav_local
    assert len(list(read_entries(tmp_path / "wr" / DEFAULT_NAME))) == 6


def test_ray_run_killed_after_two_files_resumes_with_the_missing_four(tmp_path: Path, ray_local) -> None:  # type: ignore[no-untyped-def]
    """Acceptance: a run stopped after 2 files (Ctrl-C as its second result arrives) keeps 2 done lines;
    the next run codes only the 4 others, and the manifest tells the two runs apart."""
    lib, out = tmp_path / "lib", tmp_path / "out"
    _library(lib)
    manifest = out / DEFAULT_NAME
    jobs = plan([lib], out, ".mzp", AUDIO_EXTS)
    out.mkdir()

    def stop_after_two(r, finished: int, total: int) -> None:  # type: ignore[no-untyped-def]
        if finished == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run("encode", jobs, {"model": "mdct"}, workers=1, on_result=stop_after_two, engine="ray", manifest=manifest)
    first = list(read_entries(manifest))
    assert [e["status"] for e in first] == ["done", "done"]
    assert len(_tree(out)) == 2

    code, stdout, err = run_cli(["encode", str(lib), "-o", str(out), "--engine", "ray", "--json"])
    assert code == 0, err
    summary = json.loads(stdout)
    assert (summary["done"], summary["skipped"], summary["failed"]) == (4, 2, 0)
    skipped = [f for f in summary["files"] if f["status"] == "skipped"]
    assert {f["src"] for f in skipped} == {e["path"] for e in first}
    assert all(f["message"].startswith("done in run ") for f in skipped)
    entries = list(read_entries(manifest))
    assert len(entries) == 6 and {e["status"] for e in entries} == {"done"}
    assert len({e["path"] for e in entries}) == 6
    runs = [e["run"] for e in entries]
    assert runs[:2] == [first[0]["run"]] * 2 and len(set(runs[2:])) == 1 and runs[2] != runs[0]

    code, _, err = run_cli(["encode", str(lib), "-o", str(tmp_path / "ref"), "-q"])
    assert code == 0, err
    assert _tree(out) == _tree(tmp_path / "ref")


def test_ray_in_memory_model_reaches_the_actors(tmp_path: Path, ray_local) -> None:  # type: ignore[no-untyped-def]
    """A model registered in this process (the tests' tiny freq model) is sent to the actors."""
    lib = tmp_path / "lib"
    _library(lib, n=2, seconds=0.3)
    code, _, err = run_cli(["encode", str(lib), "-o", str(tmp_path / "a"), "-m", TINY_FREQ, "-q"])
    assert code == 0, err
    code, _, err = run_cli(["encode", str(lib), "-o", str(tmp_path / "b"), "-m", TINY_FREQ, "--engine", "ray", "-q"])
    assert code == 0, err
    assert _tree(tmp_path / "b") == _tree(tmp_path / "a") and len(_tree(tmp_path / "a")) == 2


# -- the manifest with the local engine ------------------------------------------------------------------


def test_local_manifest_retries_a_failed_file_once_then_reports_it(tmp_path: Path) -> None:
    lib, out = tmp_path / "lib", tmp_path / "out"
    _library(lib, n=3, seconds=0.3)
    bad = lib / "b" / "broken.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVE garbage" * 4)
    manifest = tmp_path / "results.jsonl"
    code, stdout, err = run_cli(["encode", str(lib), "-o", str(out), "--manifest", str(manifest), "--jobs", "2",
                                 "--json"])
    assert code == 1 and "Traceback" not in err
    assert "1 of 4 files failed" in err and "1 retried" in err and f"{bad}: not a readable audio file" in err
    summary = json.loads(stdout)
    assert summary["retried"] == 1 and summary["done"] == 3
    entries = list(read_entries(manifest))
    assert [(e["status"], e["attempt"]) for e in entries if e["path"] == str(bad)] == [("retry", 1), ("failed", 2)]
    assert sorted(e["status"] for e in entries if e["path"] != str(bad)) == ["done"] * 3
    assert not list(out.rglob("*.part")) and not (out / "b" / "broken.mzp").exists()

    # the next run skips the three done files by the manifest and tries the broken one again
    code, stdout, _ = run_cli(["encode", str(lib), "-o", str(out), "--manifest", str(manifest), "--json"])
    summary = json.loads(stdout)
    assert code == 1 and (summary["skipped"], summary["failed"], summary["done"]) == (3, 1, 0)
    assert [e["status"] for e in read_entries(manifest)][5:] == ["retry", "failed"]


def test_manifest_done_entry_no_longer_holds_when_the_output_changed(tmp_path: Path) -> None:
    lib, out = tmp_path / "lib", tmp_path / "out"
    _library(lib, n=2, seconds=0.3)
    manifest = tmp_path / "m.jsonl"
    assert run_cli(["encode", str(lib), "-o", str(out), "--manifest", str(manifest), "-q"])[0] == 0
    victim = out / "b" / "t0.mzp"
    victim.unlink()
    code, stdout, _ = run_cli(["encode", str(lib), "-o", str(out), "--manifest", str(manifest), "--json"])
    summary = json.loads(stdout)
    assert code == 0 and (summary["done"], summary["skipped"]) == (1, 1) and victim.exists()


def test_stale_temp_files_of_a_killed_worker_are_removed_on_resume(tmp_path: Path) -> None:
    lib, out = tmp_path / "lib", tmp_path / "out"
    _library(lib, n=2, seconds=0.3)
    (out / "b").mkdir(parents=True)
    stale = out / "b" / ".t0.mzp.abc123.part"
    stale.write_bytes(b"half a file")
    os.utime(stale, (1, 1))
    assert run_cli(["encode", str(lib), "-o", str(out), "-q"])[0] == 0
    assert not stale.exists() and (out / "b" / "t0.mzp").exists()


def test_bad_scale_options_are_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lib = tmp_path / "lib"
    _library(lib, n=2, seconds=0.3)
    junk = tmp_path / "junk.jsonl"
    junk.write_text("this is not json\nnor this\n")
    code, _, err = run_cli(["encode", str(lib), "-o", str(tmp_path / "o1"), "--manifest", str(junk)])
    assert code == 1 and err.strip() == f"muzip: error: {junk}: line 1 is not a muzip results entry " \
                                        "(is this a results manifest?)"
    assert not (tmp_path / "o1").exists()
    code, _, err = run_cli(["encode", str(lib / "b" / "t0.wav"), "--engine", "ray"])
    assert code == 2 and "apply to batch runs" in err
    code, _, err = run_cli(["encode", str(lib), "-o", str(tmp_path / "o2"), "--address", "auto"])
    assert code == 2 and "--engine ray" in err
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    code, _, err = run_cli(["encode", str(lib), "-o", str(tmp_path / "o3"), "--engine", "ray"])
    assert code == 1 and err.strip() == "muzip: error: --engine ray needs Ray, which is not installed: " \
                                        "pip install 'muzip[ray]'"
    assert not (tmp_path / "o3").exists()


def test_unreachable_ray_address_is_one_line_and_writes_nothing(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    ray = pytest.importorskip("ray")
    import socket

    lib = tmp_path / "lib"
    _library(lib, n=2, seconds=0.3)
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setattr(ray, "is_initialized", lambda: False)  # not the module's test instance
    code, _, err = run_cli(["encode", str(lib), "-o", str(tmp_path / "out"), "--engine", "ray", "--address",
                            f"127.0.0.1:{port}"])
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert err.startswith(f"muzip: error: cannot reach the Ray cluster at 127.0.0.1:{port}: ")
    assert not (tmp_path / "out").exists()


def test_a_torn_last_line_is_ignored_and_the_next_entry_starts_a_new_line(tmp_path: Path) -> None:
    lib, out = tmp_path / "lib", tmp_path / "out"
    _library(lib, n=2, seconds=0.3)
    manifest = tmp_path / "m.jsonl"
    assert run_cli(["encode", str(lib / "a"), "-o", str(out), "--manifest", str(manifest), "-q"])[0] == 0
    with open(manifest, "a") as fh:
        fh.write('{"kind": "encode", "path": "/x", "outp')  # killed mid-write
    assert run_cli(["encode", str(lib / "b"), "-o", str(out), "--manifest", str(manifest), "-q"])[0] == 0
    entries = list(read_entries(manifest))
    assert [Path(e["path"]).name for e in entries] == ["t1.wav", "t0.wav"]


# -- DDP training ----------------------------------------------------------------------------------------


def test_excerpt_ids_are_disjoint_between_ranks_and_match_one_big_batch() -> None:
    from neuralcodec.train import Dist, excerpt_ids

    for world in (2, 3, 8):
        seen: list[int] = []
        for step in range(5):
            per_rank = [excerpt_ids(step, Dist(r, world), 4) for r in range(world)]
            seen += [i for ids in per_rank for i in ids]
            assert sorted(sum(per_rank, [])) == excerpt_ids(step, Dist(0, 1), 4 * world)
        assert len(seen) == len(set(seen)) == 5 * world * 4


def _torchrun(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "neuralcodec.train", "--synthetic", "--batch", "2", "--frames", "8", "--val-every", "2",
           "--excerpt-log", "-q", *args]
    r = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return r


def test_torchrun_two_ranks_gloo_disjoint_excerpts_and_exact_resume(tmp_path: Path) -> None:
    """Acceptance: `torchrun --nproc-per-node 2 -m neuralcodec.train --synthetic --steps 4` on CPU (gloo):
    the ranks' excerpt ids are disjoint, rank 0 alone validates and checkpoints, and a run stopped
    at step 2 (--until 2, as a killed or time-limited job) resumes to the very same weights."""
    import torch

    _torchrun(tmp_path, "--steps", "4", "--out", "whole")
    _torchrun(tmp_path, "--steps", "4", "--out", "split", "--until", "2")
    assert torch.load(tmp_path / "split" / "checkpoint.pt", weights_only=True)["step"] == 2
    r = _torchrun(tmp_path, "--steps", "4", "--out", "split", "--export", "models")
    assert r.stderr.count("checkpoint: ") == 1 and r.stderr.count("exported ") == 1  # rank 0 only

    for run_dir in ("whole", "split"):
        logs = {rank: [json.loads(x) for x in (tmp_path / run_dir / f"excerpts-rank{rank}.jsonl").read_text().splitlines()]
                for rank in (0, 1)}
        ids = {rank: [i for rec in recs for i in rec["ids"]] for rank, recs in logs.items()}
        assert [rec["step"] for rec in logs[0]] == [rec["step"] for rec in logs[1]] == [0, 1, 2, 3]
        assert not set(ids[0]) & set(ids[1])
        assert sorted(ids[0] + ids[1]) == list(range(16))
        hist = [json.loads(x)["step"] for x in (tmp_path / run_dir / "history.jsonl").read_text().splitlines()]
        assert hist == [2, 4]  # one validation per due step: rank 0's alone

    whole = torch.load(tmp_path / "whole" / "checkpoint.pt", weights_only=True)
    split = torch.load(tmp_path / "split" / "checkpoint.pt", weights_only=True)
    assert whole["step"] == split["step"] == 4
    assert whole["state_dict"].keys() == split["state_dict"].keys()
    assert all(torch.equal(whole["state_dict"][k], split["state_dict"][k]) for k in whole["state_dict"])
    models = json.loads((tmp_path / "models" / "manifest.json").read_text())["models"]
    assert len(models) == 1 and models[0]["family"] == "freq"


# -- shards ----------------------------------------------------------------------------------------------


def _corpus(root: Path, n_train: int = 4, n_val: int = 1) -> Path:
    from neuralcodec.data import Track, write_manifest

    tracks = []
    for i in range(n_train + n_val):
        f = root / "music" / f"tune{i}.wav"
        f.parent.mkdir(parents=True, exist_ok=True)
        x = music_like(1.5, rate=32000, seed=i)
        if i == 0:
            x *= 8.0  # above full scale, as a lossy decoder's overshoot: stored normalised
        sf.write(f, x.T, 32000, subtype="FLOAT")
        frames = x.shape[1]
        tracks.append(Track(id=f"pkg/tune{i}", path=str(f), package="pkg", group=f"tune{i}", duration=1.5,
                            sample_rate=32000, channels=2, frames=frames,
                            split="train" if i < n_train else "validation"))
    return write_manifest(tracks, root / "corpus" / "manifest.json")


def test_shards_pack_stream_split_by_rank_and_train(tmp_path: Path) -> None:
    """Pack a corpus into tar shards of FLAC (one track per shard here), read them back as a stream,
    give each of 2 ranks its own tracks, draw the same excerpt for an id after a jump, and train on them."""
    import tarfile

    import numpy as np

    from neuralcodec.data import decode_stereo
    from neuralcodec.data.shards import ShardSource, iter_shard, main, read_index
    from neuralcodec.train import Dist, TrainConfig, excerpt_ids
    from neuralcodec.train import run as train_run

    manifest = _corpus(tmp_path)
    assert main([str(manifest), str(tmp_path / "shards"), "--shard-mb", "0.05"]) == 0
    folder, index = read_index(tmp_path / "shards")
    assert [s["split"] for s in index["shards"]] == ["train"] * 4 + ["validation"]
    assert all(s["tracks"] == 1 and s["bytes"] == (folder / s["name"]).stat().st_size for s in index["shards"])
    with tarfile.open(folder / "train-000000.tar") as tar:
        names = tar.getnames()
    assert len(names) == 2 and names[0].rsplit(".", 1)[0] == names[1].rsplit(".", 1)[0]
    assert {n.rsplit(".", 1)[1] for n in names} == {"flac", "json"}

    seen = {}
    for s in index["shards"]:
        with open(folder / s["name"], "rb") as stream:  # a byte stream, as from a pipe or object store
            for meta, pcm in iter_shard(stream):
                ref = decode_stereo(meta["path"], 44100)
                assert pcm.dtype == np.int16 and pcm.shape == ref.shape
                assert np.abs(pcm * (meta["scale"] / 32767.0) - ref).max() < 2e-3 * meta["scale"]
                seen[meta["id"]] = meta["scale"]
    assert len(seen) == 5 and seen["pkg/tune0"] > 1.0 and seen["pkg/tune1"] == 1.0

    def rank_tracks(rank: int) -> set[str]:
        src = ShardSource(folder, "train", 4410, 0, rank=rank, world=2, batch=2)
        return {meta["id"] for p in src.paths for meta, _ in iter_shard(p)}

    assert rank_tracks(0).isdisjoint(rank_tracks(1)) and len(rank_tracks(0) | rank_tracks(1)) == 4

    kw = {"rank": 1, "world": 2, "batch": 2, "buffer_tracks": 2, "excerpts_per_track": 1}
    walk = ShardSource(folder, "train", 4410, 7, **kw)
    ids = [i for step in range(6) for i in excerpt_ids(step, Dist(1, 2), 2)]
    drawn = {i: walk.excerpt(i) for i in ids}
    jump = ShardSource(folder, "train", 4410, 7, **kw)  # a resumed run starts at step 4
    for i in ids[8:]:
        assert np.array_equal(jump.excerpt(i), drawn[i])
    assert all(x.shape == (2, 4410) and x.dtype == np.float32 for x in drawn.values())

    tiny = {"latent_dim": 8, "context_frames": 8,
            "extra": {"fine_dim": 16, "dim": 32, "enc_blocks": 1, "dec_blocks": 1, "fine_blocks": 1}}
    cfg = TrainConfig(model="freq", steps=2, batch=2, frames=4, val_every=2, ckpt_every=2, threads=1)
    train_run(cfg, tmp_path / "shards", tmp_path / "run", quiet=True, model_overrides=tiny)
    hist = [json.loads(x) for x in (tmp_path / "run" / "history.jsonl").read_text().splitlines()]
    assert [h["step"] for h in hist] == [2]

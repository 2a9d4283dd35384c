"""muzip embed / similar / classify: exact search, the linear classifier, labels, and the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import music_like, run_cli

from neuralcodec.errors import MuzipError
from neuralcodec.search import index as index_mod
from neuralcodec.search.classifier import LinearClassifier, cross_validate, stratified_folds
from neuralcodec.search.index import VectorIndex, exact_search
from neuralcodec.search.labels import folder_labels, read_labels

pa = pytest.importorskip("pyarrow")

ROOT = Path(__file__).resolve().parents[1]


def _unit(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    v = rng.standard_normal((n, d)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


# -- exact search ----------------------------------------------------------------------------------


def test_exact_search_matches_brute_force_across_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(index_mod, "CHUNK_ROWS", 97)  # many chunks and a ragged last one
    rng = np.random.default_rng(0)
    V = _unit(rng, 1001, 24)
    Q = _unit(rng, 9, 24)
    hits = VectorIndex(V, "s", "exact").search(Q, 15, space="s")
    S = Q @ V.T
    ref = np.argsort(-S, axis=1, kind="stable")[:, :15]
    assert hits.indices.shape == (9, 15)
    np.testing.assert_array_equal(hits.indices, ref)
    np.testing.assert_allclose(hits.scores, np.take_along_axis(S, ref, axis=1), rtol=1e-6)
    assert (np.diff(hits.scores, axis=1) <= 0).all()


def test_ties_are_broken_by_row_and_k_is_clamped() -> None:
    V = np.tile(np.array([[1.0, 0.0]], np.float32), (5, 1))
    hits = exact_search(V, np.array([1.0, 0.0], np.float32), 3)
    assert hits.indices.tolist() == [[0, 1, 2]]
    everything = exact_search(V, V[:2], 100)
    assert everything.indices.shape == (2, 5) and everything.indices[0].tolist() == [0, 1, 2, 3, 4]


def test_exclude_removes_rows_from_the_results() -> None:
    rng = np.random.default_rng(1)
    V = _unit(rng, 50, 8)
    ix = VectorIndex(V, "s")
    full = ix.search(V[3], 5)
    assert full.indices[0, 0] == 3 and full.scores[0, 0] == pytest.approx(1.0, abs=1e-5)
    less = ix.search(V[3], 5, exclude=[np.array([3])])
    assert 3 not in less.indices[0] and less.indices[0].tolist() == full.indices[0, 1:].tolist() + [less.indices[0, -1]]
    alone = VectorIndex(V[:2], "s").search(V[0], 5, exclude=[np.array([0, 1])])
    assert alone.indices.shape[1] == 0


@pytest.mark.parametrize("k", [0, -3])
def test_k_must_be_positive(k: int) -> None:
    with pytest.raises(MuzipError, match="-k must be at least 1"):
        exact_search(np.eye(3, dtype=np.float32), np.eye(3, dtype=np.float32)[0], k)


def test_space_size_and_empty_index_are_refused() -> None:
    ix = VectorIndex(np.eye(4, dtype=np.float32), "mdct-x/stats-v1")
    with pytest.raises(MuzipError, match="embedding space time-y/stats-v1, but the index holds mdct-x/stats-v1"):
        ix.search(np.eye(4, dtype=np.float32)[0], 1, space="time-y/stats-v1")
    with pytest.raises(MuzipError, match="size 3, the index 4"):
        ix.search(np.ones(3, np.float32), 1)
    with pytest.raises(MuzipError, match="empty"):
        VectorIndex(np.zeros((0, 4), np.float32), "s")
    with pytest.raises(MuzipError, match="unknown search backend"):
        VectorIndex(np.eye(4, dtype=np.float32), "s", backend="faiss")


def test_auto_backend_is_exact_for_small_indexes() -> None:
    assert VectorIndex(np.eye(4, dtype=np.float32), "s", backend="auto").backend == "exact"


def test_usearch_backend_rescores_exactly_and_checks_its_cache(tmp_path: Path) -> None:
    pytest.importorskip("usearch")
    rng = np.random.default_rng(2)
    V = _unit(rng, 300, 16)
    cache = tmp_path / "g.usearch"
    ann = VectorIndex(V, "s", "usearch", ann_cache=cache)
    assert cache.is_file()
    hits = ann.search(V[:20], 5)
    assert (hits.indices[:, 0] == np.arange(20)).all()  # each vector finds itself
    np.testing.assert_allclose(hits.scores, np.einsum("qd,qkd->qk", V[:20], V[hits.indices]), rtol=1e-5)
    again = VectorIndex(V, "s", "usearch", ann_cache=cache)  # loaded, not rebuilt
    np.testing.assert_array_equal(again.search(V[:20], 5).indices, hits.indices)
    with pytest.raises(MuzipError, match="built from another table"):
        VectorIndex(_unit(rng, 300, 16), "s", "usearch", ann_cache=cache)


def test_usearch_missing_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "usearch", None)
    monkeypatch.setitem(sys.modules, "usearch.index", None)
    with pytest.raises(MuzipError, match=r'pip install "muzip\[ann\]"'):
        VectorIndex(np.eye(4, dtype=np.float32), "s", backend="usearch")


# -- classifier ------------------------------------------------------------------------------------


def _blobs(n: int = 240, d: int = 20, c: int = 3, seed: int = 0, spread: float = 1.0) -> tuple[np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 3, (c, d))
    y = rng.integers(0, c, n)
    X = (centers[y] + spread * rng.normal(size=(n, d))).astype(np.float32)
    X[:, 0] *= 1000.0  # a badly scaled feature: standardisation must cope
    return X, [f"class{v}" for v in y]


def test_classifier_separates_blobs_and_generalises() -> None:
    X, y = _blobs()
    clf = LinearClassifier().fit(X[:180], y[:180])
    assert clf.labels == ["class0", "class1", "class2"]
    assert clf.predict(X[180:]) == y[180:]
    p = clf.predict_proba(X[180:])
    assert p.shape == (60, 3) and np.allclose(p.sum(axis=1), 1.0)
    assert (p.max(axis=1) > 0.9).all()


def test_classifier_is_deterministic() -> None:
    X, y = _blobs(spread=4.0)
    a = LinearClassifier(l2=0.1).fit(X, y)
    b = LinearClassifier(l2=0.1).fit(X, y)
    np.testing.assert_array_equal(a.coef, b.coef)
    np.testing.assert_array_equal(a.intercept, b.intercept)


def test_classifier_reaches_the_optimum() -> None:
    """The L-BFGS result has (near) zero gradient of the penalised loss."""
    X, y = _blobs(n=150, d=10, spread=6.0)
    clf = LinearClassifier(l2=0.05).fit(X, y)
    Xs = (X - clf.mean) / clf.scale
    t = np.array([clf.labels.index(v) for v in y])
    P = clf.predict_proba(X)
    P[np.arange(len(t)), t] -= 1.0
    grad_w = Xs.T @ P / len(t) + 0.05 * clf.coef
    assert np.abs(grad_w).max() < 1e-4 and np.abs(P.sum(axis=0) / len(t)).max() < 1e-4


def test_classifier_save_load_round_trip_without_pickle(tmp_path: Path) -> None:
    X, y = _blobs()
    clf = LinearClassifier(space="mdct-x/stats-v1").fit(X, y)
    path = tmp_path / "c.npz"
    clf.save(path)
    with np.load(path, allow_pickle=False) as z:  # every member loads without pickle
        assert all(z[name].dtype != object for name in z.files)
    back = LinearClassifier.load(path)
    assert back.labels == clf.labels and back.space == "mdct-x/stats-v1"
    np.testing.assert_array_equal(back.predict_proba(X), clf.predict_proba(X))
    with pytest.raises(MuzipError, match="space time-y/stats-v1"):
        back.check_space("time-y/stats-v1")


def test_classifier_load_refuses_foreign_files(tmp_path: Path) -> None:
    text = tmp_path / "t.npz"
    text.write_text("hello")
    with pytest.raises(MuzipError, match="not an .npz archive"):
        LinearClassifier.load(text)
    pickled = tmp_path / "p.npz"
    np.savez(pickled, meta=np.array([{"format": "muzip-linear-classifier"}], dtype=object))
    with pytest.raises(MuzipError, match="not a muzip classifier file"):
        LinearClassifier.load(pickled)
    other = tmp_path / "o.npz"
    np.savez(other, a=np.zeros(3))
    with pytest.raises(MuzipError, match="no classifier metadata"):
        LinearClassifier.load(other)
    X, y = _blobs()
    good = tmp_path / "g.npz"
    LinearClassifier().fit(X, y).save(good)
    broken = tmp_path / "b.npz"
    with zipfile.ZipFile(good) as zin, zipfile.ZipFile(broken, "w") as zout:
        for item in zin.namelist():
            if item != "coef.npy":
                zout.writestr(item, zin.read(item))
    with pytest.raises(MuzipError, match="damaged classifier"):
        LinearClassifier.load(broken)
    with pytest.raises(MuzipError, match="no such classifier"):
        LinearClassifier.load(tmp_path / "missing.npz")


def test_classifier_input_errors() -> None:
    X, y = _blobs()
    with pytest.raises(MuzipError, match="at least two labels"):
        LinearClassifier().fit(X, ["a"] * len(y))
    with pytest.raises(MuzipError, match="labels"):
        LinearClassifier().fit(X, y[:-1])
    clf = LinearClassifier().fit(X, y)
    with pytest.raises(MuzipError, match="vectors of size 20"):
        clf.predict(X[:, :5])
    with pytest.raises(MuzipError, match="not trained"):
        LinearClassifier().predict(X)


def test_grouped_folds_keep_a_track_together_and_cv_beats_majority() -> None:
    Xt, yt = _blobs(n=50)  # 50 tracks of 4 segments each: one label per track
    X = np.repeat(Xt, 4, axis=0) + np.random.default_rng(5).normal(0, 0.3, (200, Xt.shape[1])).astype(np.float32)
    y = [yt[i // 4] for i in range(200)]
    groups = [f"track{i // 4}" for i in range(200)]
    folds = stratified_folds(y, 5, groups=groups)
    assert sorted(np.concatenate(folds).tolist()) == list(range(200))
    for f in folds:
        inside = {groups[i] for i in f}
        assert not any(groups[j] in inside for g in folds if g is not f for j in g)
    res = cross_validate(X, y, k=5, groups=groups)
    assert res["tested"] == 200 and res["accuracy"] > 0.95 and res["majority"] < 0.6


# -- labels ----------------------------------------------------------------------------------------


def test_folder_labels() -> None:
    labels = folder_labels()
    assert labels.label_of("lib/jazz/take1.mzp") == "jazz"
    assert labels.label_of("take1.mzp") is None


def test_csv_labels_match_by_path_name_and_stem(tmp_path: Path) -> None:
    csv = tmp_path / "labels.csv"
    csv.write_text("path,label,comment\nmusic/a.mzp,reel,x\nb.wav,jig,\n/abs/c.flac,hornpipe,\n\n,empty,\n")
    labels = read_labels(csv)
    assert labels.label_of(tmp_path / "music" / "a.mzp") == "reel"  # relative to the CSV's folder
    assert labels.label_of("elsewhere/a.mzp") == "reel"  # by file name
    assert labels.label_of("b.wav") == "jig"
    assert labels.label_of("coded/b.mzp") == "jig"  # by stem: b.wav was coded to b.mzp
    assert labels.label_of("/abs/c.flac") == "hornpipe"
    assert labels.label_of("d.mzp") is None


def test_fma_tracks_csv(tmp_path: Path) -> None:
    csv = tmp_path / "tracks.csv"
    csv.write_text(",album,album,track,track,track\n"
                   ",comments,title,genre_top,genres,title\n"
                   "track_id,,,,,\n"
                   "2,0,AWOL,Hip-Hop,[21],Food\n"
                   "5,0,AWOL,,[21],Electric\n"
                   '140,0,"Album, with comma",Folk,[17],Queen\n')
    labels = read_labels(csv)
    assert labels.label_of("fma_small/000/000002.mp3") == "Hip-Hop"
    assert labels.label_of("coded/000140.mzp") == "Folk"
    assert labels.label_of("000005.mzp") is None  # no top genre
    assert labels.label_of("notes.mzp") is None


def test_bad_label_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("file,genre\na.mzp,x\n")
    with pytest.raises(MuzipError, match="'path' and 'label'"):
        read_labels(bad)
    with pytest.raises(MuzipError, match="no such labels file"):
        read_labels(tmp_path / "none.csv")
    empty = tmp_path / "empty.csv"
    empty.write_text("path,label\n")
    with pytest.raises(MuzipError, match="no labelled rows"):
        read_labels(empty)


# -- CLI with fake tables ------------------------------------------------------------------------


def _fake_table(path: Path, space: str = "fake-0/stats-v1", n_per: int = 6, d: int = 16, segments: bool = False,
                seed: int = 0) -> list[str]:
    """Three well separated clusters (folders a/, b/, c/), one row per file; returns the paths."""
    from neuralcodec.embedding.table import Embedding, write_table

    rng = np.random.default_rng(seed)
    centers = _unit(rng, 3, d) * 4
    rows, paths = [], []
    for ci, name in enumerate("abc"):
        for j in range(n_per):
            v = centers[ci] + rng.normal(size=d)
            p = f"lib/{name}/{j}.mzp"
            paths.append(p)
            rows.append(Embedding(p, 0.0, 10.0, space.split("/")[0], 16.0, space, (v / np.linalg.norm(v)).astype(np.float32)))
    write_table(rows, path, segments=segments)
    return paths


def test_similar_by_row_text_and_json(tmp_path: Path) -> None:
    table = tmp_path / "lib.parquet"
    paths = _fake_table(table)
    code, out, err = run_cli(["similar", "--row", "0", "--index", str(table), "-k", "3"])
    assert code == 0, err
    lines = out.strip().splitlines()
    assert len(lines) == 3 and all("lib/a/" in line for line in lines)
    assert "lib/a/0.mzp" not in out  # the query row itself is left out
    code, out, err = run_cli(["similar", "--row", "7", "--index", str(table), "-k", "100", "--json"])
    assert code == 0, err
    res = json.loads(out)
    got = res["results"][0]["neighbours"]
    assert res["backend"] == "exact" and len(got) == len(paths) - 1
    assert [n["rank"] for n in got] == list(range(1, len(paths)))
    assert paths[7].startswith("lib/b/") and all("/b/" in n["path"] for n in got[:5])  # its own cluster first
    assert all(got[i]["score"] >= got[i + 1]["score"] for i in range(len(got) - 1))


def test_similar_with_the_usearch_backend(tmp_path: Path) -> None:
    pytest.importorskip("usearch")
    table = tmp_path / "lib.parquet"
    _fake_table(table)
    cache = tmp_path / "lib.usearch"
    args = ["similar", "--row", "4", "--index", str(table), "-k", "5", "--json"]
    code, exact, err = run_cli(args + ["--backend", "exact"])
    assert code == 0, err
    code, ann, err = run_cli(args + ["--backend", "usearch", "--ann-cache", str(cache)])
    assert code == 0, err
    assert cache.is_file()
    assert json.loads(ann)["backend"] == "usearch"
    assert json.loads(ann)["results"] == json.loads(exact)["results"]  # 18 vectors: the graph finds them all


def test_classify_train_and_predict_on_tables(tmp_path: Path) -> None:
    train, test = tmp_path / "train.parquet", tmp_path / "test.parquet"
    _fake_table(train, seed=0, n_per=10)
    _fake_table(test, seed=0, n_per=3)  # same centers (seed), different noise draws
    clf = tmp_path / "c.npz"
    code, out, err = run_cli(["classify", "train", str(train), "-o", str(clf), "--json"])
    assert code == 0, err
    summary = json.loads(out)
    assert summary["labels"] == {"a": 10, "b": 10, "c": 10} and summary["cv"]["accuracy"] > 0.9
    assert "5-fold cross-validation: accuracy" in err
    code, out, err = run_cli(["classify", "predict", str(test), "--classifier", str(clf)])
    assert code == 0, err
    for line in out.strip().splitlines():
        label, prob, path = line.split()
        assert path.split("/")[1] == label and 0 < float(prob) <= 1
    other = tmp_path / "other.parquet"
    _fake_table(other, space="other-1/stats-v1")
    code, out, err = run_cli(["classify", "predict", str(other), "--classifier", str(clf)])
    assert code == 1 and out == "" and len(err.strip().splitlines()) == 1 and "fake-0/stats-v1" in err


def test_classify_train_with_csv_labels(tmp_path: Path) -> None:
    table = tmp_path / "t.parquet"
    paths = _fake_table(table, n_per=4)
    csv = tmp_path / "labels.csv"
    csv.write_text("path,label\n" + "".join(f"{p},{'first' if '/a/' in p else 'rest'}\n" for p in paths[:-1]))
    clf = tmp_path / "c.npz"
    code, out, err = run_cli(["classify", "train", str(table), "--labels", str(csv), "-o", str(clf), "--folds", "0"])
    assert code == 0, err
    assert "1 files have no label" in err
    assert LinearClassifier.load(clf).labels == ["first", "rest"]


# -- bad input: one line, exit 1, no output ---------------------------------------------------------


def _one_line_error(code: int, err: str, *needles: str) -> None:
    lines = err.strip().splitlines()
    assert code == 1 and len(lines) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_similar_bad_inputs(tmp_path: Path) -> None:
    table = tmp_path / "lib.parquet"
    _fake_table(table)
    _one_line_error(*run_cli(["similar", "--row", "0", "--index", str(table), "-k", "0"])[::2], "-k must be at least 1")
    _one_line_error(*run_cli(["similar", "--row", "99", "--index", str(table)])[::2], "--row 99")
    _one_line_error(*run_cli(["similar", "--row", "0", "--index", str(tmp_path / "no.parquet")])[::2], "no such index")
    junk = tmp_path / "junk.parquet"
    junk.write_bytes(b"not parquet at all")
    _one_line_error(*run_cli(["similar", "--row", "0", "--index", str(junk)])[::2], "not a Parquet")
    empty = tmp_path / "empty.parquet"
    import pyarrow.parquet as pq

    schema_table = pq.read_table(table).slice(0, 0)
    pq.write_table(schema_table, empty)
    _one_line_error(*run_cli(["similar", "--row", "0", "--index", str(empty)])[::2], "the index is empty")
    code, _, err = run_cli(["similar", "--index", str(table)])
    assert code == 2 and "QUERY" in err


def test_classify_bad_inputs(tmp_path: Path) -> None:
    table = tmp_path / "t.parquet"
    _fake_table(table)
    out = tmp_path / "c.npz"
    csv = tmp_path / "one.csv"
    csv.write_text("path,label\nlib/a/0.mzp,only\n")
    _one_line_error(*run_cli(["classify", "train", str(table), "--labels", str(csv), "-o", str(out)])[::2],
                    "at least two labels")
    assert not out.exists()
    _one_line_error(*run_cli(["classify", "predict", str(table), "--classifier", str(table)])[::2],
                    "not a muzip classifier")
    out.write_text("keep me")
    _one_line_error(*run_cli(["classify", "train", str(table), "-o", str(out)])[::2], "already exists")
    assert out.read_text() == "keep me"


def test_missing_pyarrow_is_one_line(tmp_path: Path) -> None:
    hide = ("import sys\nsys.modules['pyarrow'] = None\nsys.modules['pyarrow.parquet'] = None\n"
            "from neuralcodec.cli import main\nmain(sys.argv[1:])\n")
    clip = tmp_path / "c.wav"
    sf.write(clip, music_like(0.5).T, 44100)
    out = tmp_path / "lib.parquet"
    r = subprocess.run([sys.executable, "-c", hide, "embed", str(clip), "-o", str(out)], capture_output=True,
                       text=True, cwd=ROOT)
    _one_line_error(r.returncode, r.stderr, 'pip install "muzip[search]"')
    assert not out.exists()


def test_help_does_not_import_torch_or_pyarrow() -> None:
    probe = ("import sys\nfrom neuralcodec.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
             "print('HEAVY', sorted(m for m in ('torch', 'pyarrow', 'neuralcodec.embedding.embed') if m in sys.modules))")
    for args in (["--help"], ["embed", "--help"], ["similar", "--help"], ["classify", "train", "--help"]):
        r = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True, cwd=ROOT)
        assert "HEAVY []" in r.stdout, (args, r.stdout, r.stderr)


# -- CLI with real files ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two 'genres' of two short clips each: WAV in rock/, .mzp (8k) in soft/, plus the .mzp of rock/0."""
    from neuralcodec import api

    root = tmp_path_factory.mktemp("lib")
    for genre, gain, seeds in (("rock", 1.0, (0, 1)), ("soft", 0.1, (2, 3))):
        (root / genre).mkdir()
        for s in seeds:
            wav = root / genre / f"{s}.wav"
            sf.write(wav, (gain * music_like(2.0, seed=s)).T, 44100, subtype="PCM_16")
            if genre == "soft":
                api.encode_file(wav, root / genre / f"{s}.mzp", bitrate="8k")
                wav.unlink()
    api.encode_file(root / "rock" / "0.wav", root / "rock0.mzp", bitrate="8k")
    return root


def test_embed_similar_classify_end_to_end(library: Path, tmp_path: Path) -> None:
    table = tmp_path / "lib.parquet"
    code, out, err = run_cli(["embed", str(library / "rock"), str(library / "soft"), "-o", str(table), "--json"])
    assert code == 0, err
    summary = json.loads(out)
    assert summary["rows"] == 4 and summary["failed"] == [] and summary["space"].startswith("mdct-")
    from neuralcodec.embedding.table import read_table

    t = read_table(table)
    assert len(t) == 4 and np.allclose(np.linalg.norm(t.vectors, axis=1), 1.0, atol=1e-5)
    # the .mzp of rock/0.wav finds rock/0.wav first
    code, out, err = run_cli(["similar", str(library / "rock0.mzp"), "--index", str(table), "-k", "2", "--json"])
    assert code == 0, err
    top = json.loads(out)["results"][0]["neighbours"][0]
    assert top["path"].endswith(os.path.join("rock", "0.wav")) and top["score"] > 0.95
    code, out, err = run_cli(["similar", str(library / "rock" / "0.wav"), "--index", str(table), "-k", "4",
                              "--other-files", "--json"])
    assert code == 0, err
    assert all(not n["path"].endswith("0.wav") for n in json.loads(out)["results"][0]["neighbours"])
    clf = tmp_path / "c.npz"
    code, out, err = run_cli(["classify", "train", str(library / "rock"), str(library / "soft"), "-o", str(clf)])
    assert code == 0, err
    assert "2-fold cross-validation" in err
    code, out, err = run_cli(["classify", "predict", str(library / "rock0.mzp"), "--classifier", str(clf), "--json"])
    assert code == 0, err
    pred = json.loads(out)["predictions"][0]
    assert set(pred["probabilities"]) == {"rock", "soft"}


def test_embed_segments_and_bad_files(library: Path, tmp_path: Path) -> None:
    table = tmp_path / "seg.parquet"
    bad = tmp_path / "bad.mzp"
    bad.write_bytes(b"this is not a muzip file")
    code, out, err = run_cli(["embed", str(library / "soft"), str(bad), "-o", str(table), "--segments", "1", "-q"])
    assert code == 1
    assert "1 of 3 inputs failed" in err and "bad.mzp: not a muzip file" in err
    from neuralcodec.embedding.table import read_table

    t = read_table(table)
    assert t.segments and len(t) == 4
    assert sorted(set(t.starts.tolist())) == pytest.approx([0.0, 1.0], abs=0.03)  # starts fall on frames
    # nothing good: no table, one failure line and one error line
    none = tmp_path / "none.parquet"
    code, out, err = run_cli(["embed", str(bad), "-o", str(none)])
    assert code == 1 and not none.exists() and err.strip().splitlines()[-1].startswith("muzip: error: no embeddings")


def test_query_from_another_space_is_refused(library: Path, tmp_path: Path) -> None:
    table = tmp_path / "other.parquet"
    from neuralcodec.embedding.embed import embed_files
    from neuralcodec.embedding.table import Embedding, write_table

    real = embed_files([library / "rock0.mzp"])[0]
    write_table([Embedding("x.mzp", 0.0, 2.0, "time-00000000", 8.0, "time-00000000/stats-v1", real.vector)], table)
    code, out, err = run_cli(["similar", str(library / "rock0.mzp"), "--index", str(table)])
    _one_line_error(code, err, "rock0.mzp", "embedding space mdct-", "time-00000000/stats-v1")
    assert out == ""
    code, out, err = run_cli(["similar", str(library), "--index", str(table)])
    _one_line_error(code, err, "is a directory")

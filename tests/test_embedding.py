"""Embeddings read from coded integers: envelope-only decoding, pooling, rows, spaces, heads."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY_FREQ, music_like

from neuralcodec import api
from neuralcodec.embedding import head as head_mod
from neuralcodec.embedding.embed import embed_audio, embed_files
from neuralcodec.embedding.latents import analysis_envelopes, analysis_frames, read_frames
from neuralcodec.embedding.pooling import LAGS, pool, pooled_dim, segment_bounds
from neuralcodec.embedding.table import read_table, write_table
from neuralcodec.errors import MuzipError


def _clip(seconds: float = 4.0, seed: int = 0) -> np.ndarray:
    a = music_like(seconds, seed=seed)
    a[:, ::5000] += 0.5  # clicks: some short frames and some rhythm
    return a


@pytest.mark.parametrize("bitrate", ["6k", "16k", "64k"])
def test_analysis_equals_the_file(bitrate: str) -> None:
    """The encoder-side analysis gives exactly the envelope a coded file carries (the head is fitted
    on the former and used on the latter)."""
    a = _clip()
    f = read_frames(api.encode(a, 44100, bitrate))
    assert f.family == "mdct" and f.values.shape[1] == 24
    assert np.array_equal(f.values, analysis_frames(a, 44100, float(bitrate[:-1])))
    assert abs(f.rate - 44100 / 1024) < 1e-9 and abs(f.duration - 4.0) < 1e-9
    assert f.kbps > 0


def test_envelope_only_decode_matches_the_full_decode() -> None:
    from neuralcodec.layered import TransformDecoder, load_tables
    from neuralcodec.models.registry import resolve
    from neuralcodec.transform.codec import HOP
    from neuralcodec.transform.packet import decode_envelope

    data = api.encode(music_like(8.0), 44100, "16k")
    with api.MzpReader(data) as r:
        core = r.core
        assert isinstance(core, TransformDecoder)
        tables = load_tables(resolve("mdct"))
        for k in range(core.n_packets):
            ints, _ = core.packet(k)
            env, types, cutoff = decode_envelope(core.payload(k), ints.types.size, HOP, core.p, tables)
            assert np.array_equal(env, ints.env[0]) and np.array_equal(types, ints.types) and cutoff == ints.cutoff


def test_steps_share_one_analysis() -> None:
    a = _clip(3.0)
    both = analysis_envelopes(a, 44100, [4, 2])
    assert np.array_equal(both[4], analysis_frames(a, 44100, 8.0))
    assert np.array_equal(both[2], analysis_frames(a, 44100, 64.0))


def test_pooling_blocks() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(-40, 10, (300, 24)).astype(np.float32)
    v = pool(x)
    assert v.shape == (pooled_dim(24),) == (436,) and np.isfinite(v).all()
    # a louder copy has the same shape, spread, flux and correlations: only the loudness mean moves
    w = pool(x + 12.0)
    diff = np.flatnonzero(np.abs(v - w) > 1e-5)
    assert diff.tolist() == [3 * 24]
    # a periodic onset pattern shows in the rhythm block at its period
    y = np.full((400, 24), -60.0, np.float32)
    y[::20] = -10.0
    rhythm = pool(y)[-LAGS:]
    assert np.argmax(rhythm) == 19  # lag 20 frames (index 0 is lag 1)
    # constant frames: finite, no division by zero
    assert np.isfinite(pool(np.full((50, 24), -90.0, np.float32))).all()
    with pytest.raises(ValueError):
        pool(x[:1])


def test_segment_bounds() -> None:
    assert segment_bounds(100, 10.0, None) == [(0, 100)]
    assert segment_bounds(100, 10.0, 3.0) == [(0, 30), (30, 60), (60, 100)]  # the 10-frame tail joins
    assert segment_bounds(100, 10.0, 4.0) == [(0, 40), (40, 80), (80, 100)]  # a half segment stays


def test_embed_files_rows_and_segments(tmp_path: Path, wav) -> None:  # type: ignore[no-untyped-def]
    src = wav("a.wav", seconds=6.0)
    mzp = tmp_path / "a.mzp"
    api.encode_file(src, mzp, bitrate="16k")
    whole = embed_files([mzp], head="none")
    assert len(whole) == 1
    r = whole[0]
    assert r.model == "mdct-f961478b" and r.space == "mdct-f961478b/stats-v1" and r.start == 0.0
    assert abs(r.duration - 6.0) < 1e-6 and 14 < r.kbps < 18
    assert abs(np.linalg.norm(r.vector) - 1) < 1e-5
    # the audio file coded on the fly at the same rate gives the same vector
    same = embed_files([src], head="none", bitrate="16k")[0]
    assert np.allclose(same.vector, r.vector, atol=1e-6)
    segs = embed_files([mzp], segments=2.0, head="none")
    assert [s.start for s in segs] == pytest.approx([0.0, 2.0, 4.0], abs=0.03)
    assert sum(s.duration for s in segs) == pytest.approx(6.0, abs=1e-3)


def test_cross_bitrate_vectors_are_close() -> None:
    a = _clip(6.0, seed=3)
    b = _clip(6.0, seed=4) * 0.3
    v8 = embed_audio(a, 44100, bitrate="8k", head="none")[0].vector
    v64 = embed_audio(a, 44100, bitrate="64k", head="none")[0].vector
    other = embed_audio(b, 44100, bitrate="64k", head="none")[0].vector
    assert float(v8 @ v64) > float(v8 @ other)


def test_spaces_are_never_mixed(tmp_path: Path, wav) -> None:  # type: ignore[no-untyped-def]
    src = wav("a.wav", seconds=3.0)
    m1, m2 = tmp_path / "mdct.mzp", tmp_path / "freq.mzp"
    api.encode_file(src, m1, bitrate="16k")
    api.encode_file(src, m2, bitrate="16k", model=TINY_FREQ)
    f = read_frames(m2)
    assert f.family == "freq" and f.values.shape[1] == 16
    rows = embed_files([m2], head="none")
    assert rows[0].space == f"{TINY_FREQ}/stats-v1" and rows[0].vector.shape == (pooled_dim(16),)
    with pytest.raises(MuzipError, match="cannot be mixed"):
        embed_files([m1, m2], head="none")
    with pytest.raises(MuzipError, match="cannot be mixed"):
        write_table(embed_files([m1], head="none") + rows, tmp_path / "x.parquet")
    assert not (tmp_path / "x.parquet").exists()


def test_bad_inputs_are_one_line(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mzp"
    junk.write_bytes(b"not a muzip file at all")
    with pytest.raises(MuzipError):
        embed_files([junk])
    errors: list[tuple[str, str]] = []
    assert embed_files([junk, tmp_path / "missing.wav"], on_error=lambda p, m: errors.append((p, m))) == []
    assert [p for p, _ in errors] == [str(junk), str(tmp_path / "missing.wav")]
    with pytest.raises(MuzipError, match="too short"):
        embed_audio(np.zeros((2, 2000), np.float32), 44100)
    with pytest.raises(MuzipError, match="segments"):
        embed_files([junk], segments=0)


def test_table_round_trip(tmp_path: Path) -> None:
    rows = embed_audio(_clip(5.0), 44100, path="x.wav", segments=2.0, head="none")
    n = write_table(rows, tmp_path / "t.parquet", segments=True)
    t = read_table(tmp_path / "t.parquet")
    assert n == len(t) == len(rows) and t.segments and t.space == rows[0].space
    assert np.array_equal(t.vectors, np.stack([r.vector for r in rows]))
    assert t.paths == ["x.wav"] * n and np.allclose(t.starts, [r.start for r in rows])
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 nope")
    with pytest.raises(MuzipError, match="not a Parquet"):
        read_table(tmp_path / "bad.parquet")


def test_head_file_is_verified_and_safe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)
    p = pooled_dim(24)
    layers = [(rng.normal(size=(p, 8)).astype(np.float32), np.zeros(8, np.float32)),
              (rng.normal(size=(8, 4)).astype(np.float32), np.zeros(4, np.float32))]
    blob = head_mod.to_bytes(np.zeros(p, np.float32), np.ones(p, np.float32), layers,
                             {"base": "mdct-f961478b", "pooling": "stats-v1"})
    path = tmp_path / "h.npz"
    path.write_bytes(blob)
    rows = embed_audio(_clip(3.0), 44100, head=str(path))
    assert rows[0].vector.shape == (4,) and rows[0].space.startswith("mdct-f961478b/stats-v1/head-")
    # a head for another base model, or a damaged file, is refused in one line
    other = tmp_path / "o.npz"
    other.write_bytes(head_mod.to_bytes(np.zeros(p, np.float32), np.ones(p, np.float32), layers,
                                        {"base": "freq-x", "pooling": "stats-v1"}))
    with pytest.raises(MuzipError, match="reads model"):
        embed_audio(_clip(3.0), 44100, head=str(other))
    (tmp_path / "bad.npz").write_bytes(blob[:100])
    with pytest.raises(MuzipError):
        embed_audio(_clip(3.0), 44100, head=str(tmp_path / "bad.npz"))
    # a manifest entry whose sha256 does not match is refused
    models = tmp_path / "models"
    models.mkdir()
    (models / "h.npz").write_bytes(blob)
    (models / "manifest.json").write_text(json.dumps({"models": [], "heads": [
        {"base": "mdct-f961478b", "file": "h.npz", "sha256": "0" * 64}]}))
    monkeypatch.setattr(head_mod, "_CACHE", {})
    monkeypatch.setenv("MUZIP_MODELS", str(models))
    with pytest.raises(MuzipError, match="sha256"):
        head_mod.shipped_head("mdct-f961478b")


def test_pitch_block_finds_the_pitch_class() -> None:
    from neuralcodec.embedding.pooling import PITCH_DIM, pool_pitch

    t = np.arange(4 * 44100) / 44100
    tone = np.stack([0.3 * np.sin(2 * np.pi * 440.0 * t) + 0.2 * np.sin(2 * np.pi * 659.26 * t)] * 2).astype(np.float32)
    f = read_frames(api.encode(tone, 44100, "32k"), pitch=True)
    assert f.chroma is not None and f.chroma.shape == (f.values.shape[0], 12)
    assert np.array_equal(f.values, read_frames(api.encode(tone, 44100, "32k")).values)  # same envelope
    v = pool_pitch(f.chroma)
    assert v.shape == (PITCH_DIM,) and np.isfinite(v).all()
    mean = v[:12]
    assert int(np.argmax(mean)) == 0 and int(np.argsort(mean)[-2]) == 7  # A, then E (a fifth up)
    assert np.array_equal(pool_pitch(np.zeros((5, 12), np.float32)), np.zeros(PITCH_DIM, np.float32))


def test_pitch_rows_and_spaces(tmp_path: Path, wav) -> None:  # type: ignore[no-untyped-def]
    from neuralcodec.search.command import _space_parts

    src = wav("a.wav", seconds=4.0)
    mzp = tmp_path / "a.mzp"
    api.encode_file(src, mzp, bitrate="16k")
    rows = embed_files([mzp], head="none", pitch=True)
    assert rows[0].space == "mdct-f961478b/stats-v1+pitch-v1" and rows[0].vector.shape == (436 + 42,)
    assert abs(np.linalg.norm(rows[0].vector) - 1) < 1e-5
    # audio coded on the fly (a real encode at the same rate) gives the same vector
    same = embed_files([src], head="none", pitch=True, bitrate="16k")[0]
    assert np.allclose(same.vector, rows[0].vector, atol=1e-5)
    assert _space_parts(rows[0].space) == ("mdct-f961478b", "none", True)
    assert _space_parts("mdct-f961478b/stats-v1/head-1a2b3c4d") == ("mdct-f961478b", "auto", False)
    # pitch and plain vectors are different spaces; autoencoder files have no coefficients to read
    with pytest.raises(MuzipError, match="cannot be mixed"):
        write_table(rows + embed_files([mzp], head="none"), tmp_path / "x.parquet")
    freq = tmp_path / "f.mzp"
    api.encode_file(src, freq, bitrate="16k", model=TINY_FREQ)
    with pytest.raises(MuzipError, match="pitch features need"):
        embed_files([freq], pitch=True)


def test_cli_pitch_table_and_query(tmp_path: Path, wav) -> None:  # type: ignore[no-untyped-def]
    from conftest import run_cli

    a, b = wav("a.wav", seconds=3.0, seed=1), wav("b.wav", seconds=3.0, seed=2)
    lib = tmp_path / "lib.parquet"
    code, _, err = run_cli(["embed", str(a), str(b), "-o", str(lib), "--pitch", "-q"])
    assert code == 0, err
    t = read_table(lib)
    assert t.space.endswith("+pitch-v1") and t.vectors.shape == (2, 128 + 42)
    code, out, err = run_cli(["similar", str(a), "--index", str(lib), "-k", "1", "--json"])
    assert code == 0, err
    hit = json.loads(out)["results"][0]["neighbours"][0]
    assert hit["path"] == str(a) and hit["score"] > 0.999

"""The transform layer: exact MDCT with block switching, integer packet round trips, the API path."""

from __future__ import annotations

import numpy as np
import pytest

import neuralcodec as nc
from neuralcodec.transform import mdct as M
from neuralcodec.transform.codec import HOP, Analyzer, Synthesizer, _transients, n_frames, quantize_packet
from neuralcodec.transform.coefficients import MAX_MAG, bucket_bits, from_buckets, to_buckets
from neuralcodec.transform.packet import LayerParams, decode_packet, encode_packet, estimate_bits
from neuralcodec.transform.tables import analytic_tables


def _music(seconds: float = 3.0, rate: int = 44100, seed: int = 0, noise: float = 0.01) -> np.ndarray:
    """Stereo test signal: two tones, a little noise and one burst (a transient) in the middle."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    mid = 0.3 * np.sin(2 * np.pi * 440 * t) + 0.1 * np.sin(2 * np.pi * 3100 * t) + noise * rng.standard_normal(t.size)
    mid[t.size // 2 : t.size // 2 + 300] += 0.5 * rng.standard_normal(300)
    side = 2 * noise * rng.standard_normal(t.size)
    return np.stack([mid + side, mid - side])


def test_mdct_matches_its_definition() -> None:
    m = 16
    x = np.random.default_rng(1).standard_normal((3, 2 * m))
    n, k = np.arange(2 * m), np.arange(m)
    basis = np.sqrt(2 / m) * np.cos(np.pi / m * (n[None, :] + 0.5 + m / 2) * (k[:, None] + 0.5))
    np.testing.assert_allclose(M.mdct(x), x @ basis.T, atol=1e-12)
    np.testing.assert_allclose(M.imdct(x[:, :m]), x[:, :m] @ basis, atol=1e-12)


@pytest.mark.parametrize("pattern", ["long", "mixed", "short"])
def test_block_switching_reconstructs_exactly(pattern: str) -> None:
    sig = np.random.default_rng(2).standard_normal(HOP * 12 + 77)
    an = Analyzer(1)
    for i in range(0, sig.size, 3000):  # streaming, in blocks that do not align with frames
        an.push(sig[None, i : i + 3000])
    types, coefs = an.finish()
    assert types.size == n_frames(sig.size)
    if pattern != "long":  # force switching patterns through the same synthesis path
        forced = np.ones_like(types) if pattern == "short" else (np.arange(types.size) % 3 == 0).astype(np.int64)
        pad = np.concatenate([np.zeros(HOP), sig, np.zeros((types.size + 1) * HOP - sig.size - HOP)])
        blocks = np.stack([pad[i * HOP : i * HOP + 2 * HOP] for i in range(types.size)])
        left, right = M.overlap_shapes(forced, M.LONG, M.LONG)
        coefs = M.analyze_frames(blocks, forced, left, right, M.Windows(HOP))[None]
        types = forced
    y = Synthesizer(1).run(types, coefs.astype(np.float64), M.LONG)[0]
    np.testing.assert_allclose(y[HOP : HOP + sig.size], sig, atol=1e-6)
    assert np.isclose(np.square(coefs.astype(np.float64)).sum(), np.square(sig).sum(), rtol=1e-5)


def test_transient_detector_finds_the_click() -> None:
    x = _music()[0]
    types = _transients(np.diff(x, prepend=x[:1]), 0, n_frames(x.size), 0)
    click_frame = (x.size // 2) // HOP
    assert types[click_frame : click_frame + 2].any()
    assert types.sum() <= 4  # steady tones stay long


def test_buckets_round_trip() -> None:
    mag = np.arange(0, MAX_MAG + 1)
    b, nbits, extra = to_buckets(mag)
    assert (from_buckets(b, extra) == mag).all()
    assert (bucket_bits(b) == nbits).all()
    assert (extra < (1 << nbits)).all()


@pytest.mark.parametrize("kind", ["learned", "laplace"])
@pytest.mark.parametrize("d", [-40, 0, 30])
def test_packet_integers_round_trip_and_estimate(kind: str, d: int) -> None:
    x = _music(2.0)
    an = Analyzer(2)
    an.push(np.stack([(x[0] + x[1]) / 2, (x[0] - x[1]) / 2]))
    types, coefs = an.finish()
    p = LayerParams(3, d, 11, kind, kind)
    tables = analytic_tables()
    ints = quantize_packet(types, coefs, p)
    payload = encode_packet(ints, p, tables)
    back = decode_packet(payload, types.size, 2, HOP, p, tables)
    for name in ("types", "env", "prof", "q"):
        assert (getattr(back, name) == getattr(ints, name)).all(), name
    assert back.cutoff == ints.cutoff
    est = sum(estimate_bits(ints, p, tables).values()) / 8
    assert abs(len(payload) - est) <= 0.02 * len(payload) + 8


def test_api_round_trip_rises_with_rate() -> None:
    x = _music(4.0, noise=0.0).astype(np.float32)
    snr = []
    for rate in ("8k", "32k"):
        data = nc.encode(x, 44100, bitrate=rate, model="mdct")
        y, sr = nc.decode(data)
        assert sr == 44100 and y.shape == x.shape
        kbps = len(data) * 8 / 4.0 / 1000
        assert abs(kbps - float(rate[:-1])) <= 0.05 * float(rate[:-1])
        snr.append(10 * np.log10(np.square(x).sum() / np.square(x - y).sum()))
    assert snr[1] > snr[0] + 6


def test_seek_matches_full_decode() -> None:
    x = _music(14.0).astype(np.float32)  # three packets
    data = nc.encode(x, 44100, bitrate="24k", model="mdct")
    full, _ = nc.decode(data)
    part, _ = nc.decode(data, start=7.5, duration=2.0)
    a = int(7.5 * 44100)
    np.testing.assert_allclose(part, full[:, a : a + part.shape[1]], atol=1e-5)


def test_mono_and_other_rates() -> None:
    x = _music(2.0)[0].astype(np.float32)
    y, sr = nc.decode(nc.encode(x, 32000, bitrate="16k", model="mdct"))
    assert sr == 32000 and y.shape == (1, x.size)

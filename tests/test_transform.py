"""The transform layer: exact MDCT with block switching, integer packet round trips, the API path."""

from __future__ import annotations

import numpy as np
import pytest

import neuralcodec as nc
from neuralcodec.errors import MuzipError
from neuralcodec.transform import mdct as M
from neuralcodec.transform.allocation import steps
from neuralcodec.transform.codec import (
    HOP,
    Analyzer,
    Synthesizer,
    _transients,
    n_frames,
    quantize_packet,
    reconstruct,
)
from neuralcodec.transform.coefficients import MAX_MAG, bucket_bits, from_buckets, to_buckets
from neuralcodec.transform.fill import CAP
from neuralcodec.transform.fill_model import HIDDEN, N_FEATURES, FillNet
from neuralcodec.transform.packet import (
    LayerParams,
    decode_packet,
    derive,
    encode_packet,
    estimate_bits,
)
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


def _tiny_fill_net(seed: int = 0) -> FillNet:
    rng = np.random.default_rng(seed)
    w = {"fill_w1": rng.normal(0, 0.3, (N_FEATURES, HIDDEN)), "fill_b1": np.zeros(HIDDEN),
         "fill_w2": rng.normal(0, 0.3, (HIDDEN, HIDDEN)), "fill_b2": np.zeros(HIDDEN),
         "fill_w3": rng.normal(0, 0.3, (HIDDEN, 1)), "fill_b3": np.array([3.0]),  # loud: hits the cap
         "fill_mean": np.zeros(N_FEATURES), "fill_std": np.ones(N_FEATURES)}
    return FillNet(w)


@pytest.mark.parametrize("fill", ["none", "noise", "learned"])
def test_fill_touches_only_zeroed_bins_and_stays_in_the_dead_zone(fill: str) -> None:
    x = _music(2.0)
    an = Analyzer(2)
    an.push(np.stack([(x[0] + x[1]) / 2, (x[0] - x[1]) / 2]))
    types, coefs = an.finish()
    p = LayerParams(4, 8, 11, "laplace", "laplace")
    ints = quantize_packet(types, coefs, p)
    out = reconstruct(ints, p, 0, fill=fill, fill_net=_tiny_fill_net())
    bare = reconstruct(ints, p, 0, fill="none")
    coded = ints.q != 0
    np.testing.assert_array_equal(out[coded], bare[coded])  # coded values are never changed
    assert (bare[~coded] == 0).all()
    for c in range(2):
        dv = derive(types, ints.env[c], ints.prof[c], ints.cutoff, p)
        step = steps(dv.st)
        assert (np.abs(out[c][dv.silent]) == 0).all()  # silent bands and bins above the cutoff stay silent
        filled = (ints.q[c] == 0) & ~dv.silent
        assert (np.abs(out[c][filled]) <= CAP * np.sqrt(3.0) * step[filled] + 1e-12).all()
        if fill != "none":
            assert np.count_nonzero(out[c][filled]) > 0.9 * filled.sum()


def test_fill_choice_changes_no_bit_of_the_file(monkeypatch: pytest.MonkeyPatch) -> None:
    x = _music(3.0).astype(np.float32)
    data = nc.encode(x, 44100, bitrate="12k", model="mdct")
    outs = {}
    for fill in ("none", "noise", "learned"):
        monkeypatch.setenv("MUZIP_FILL", fill)
        outs[fill] = nc.decode(data)[0]
    assert not np.array_equal(outs["none"], outs["noise"])
    monkeypatch.setenv("MUZIP_FILL", "bogus")
    with pytest.raises(MuzipError):
        nc.decode(data)


def _crc_fixed_mutations(data: bytes, n: int, seed: int = 0):  # type: ignore[no-untyped-def]
    """Copies of an .mzp whose packet payloads are damaged but carry valid CRCs (so the damage
    reaches the entropy decoder, not just the CRC check)."""
    import io as _io
    import struct as _struct
    import zlib as _zlib

    from neuralcodec import container

    rng = np.random.default_rng(seed)
    f = _io.BytesIO(data)
    header, first = container.read_header(f)
    offsets = container.read_index(f, header, first)
    for _ in range(n):
        buf = bytearray(data)
        p = int(rng.integers(len(offsets)))
        off = offsets[p]
        length = _struct.unpack("<I", buf[off : off + 4])[0]
        start = off + container.PACKET_OVERHEAD
        kind = rng.integers(3)
        if kind == 0:  # flip bits
            for _ in range(int(rng.integers(1, 8))):
                i = start + int(rng.integers(length))
                buf[i] ^= 1 << int(rng.integers(8))
        elif kind == 1:  # random words
            i = start + 4 * int(rng.integers(length // 4))
            buf[i : i + 4] = rng.integers(0, 256, 4, dtype=np.uint8).tobytes()
        else:  # zero a run
            i = start + int(rng.integers(length))
            j = min(start + length, i + int(rng.integers(1, 64)))
            buf[i:j] = bytes(j - i)
        buf[off + 4 : off + 8] = _struct.pack("<I", _zlib.crc32(bytes(buf[start : start + length])))
        yield bytes(buf)


def test_damaged_transform_payloads_decode_or_fail_cleanly() -> None:
    """Any damage behind a valid CRC either decodes (to finite, bounded audio) or is a MuzipError."""
    x = _music(7.0).astype(np.float32)  # two packets
    data = nc.encode(x, 44100, bitrate="16k", model="mdct")
    decoded = refused = 0
    for bad in _crc_fixed_mutations(data, 60):
        try:
            y, _ = nc.decode(bad)
        except MuzipError:
            refused += 1
            continue
        assert y.shape == x.shape and np.isfinite(y).all()
        decoded += 1
    assert decoded + refused == 60 and refused > 0

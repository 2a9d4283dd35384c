"""The encoder's fast path (PacketPlan) gives exactly what the reference path gives: the same ideal
bits, float for float (rate control compares them), and the same payload bytes."""

from __future__ import annotations

import numpy as np
import pytest

from neuralcodec.transform.codec import Analyzer, packet_envelope, quantize_coefficients
from neuralcodec.transform.packet import LayerParams, decode_packet, encode_packet, estimate_bits
from neuralcodec.transform.plan import PacketPlan
from neuralcodec.transform.tables import analytic_tables


def _signal(seconds: float, seed: int) -> np.ndarray:
    """Mid/side-like pair: tones, noise, clicks (short frames) and a low-passed stretch (cutoff)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 44100)) / 44100
    mid = 0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * np.sin(2 * np.pi * 9000 * t) + 0.02 * rng.standard_normal(t.size)
    for c in range(1, 4):
        i = c * t.size // 4
        mid[i : i + 200] += 0.6 * rng.standard_normal(200)
    side = 0.01 * np.convolve(rng.standard_normal(t.size), np.ones(8) / 8, mode="same")
    return np.stack([mid, side])


@pytest.mark.parametrize("channels", [1, 2])
def test_plan_matches_reference_bits_and_bytes(channels: int) -> None:
    tables = analytic_tables()
    an = Analyzer(channels, np.float16, 1024.0)
    x = _signal(4.0, channels)[:channels]
    for i in range(0, x.shape[1], 5000):
        an.push(x[:, i : i + 5000])
    types, coefs = an.finish()
    assert (types == 1).any() and (types == 0).any()
    checked = 0
    for a, b in ((0, types.size), (10, 74)):
        c32 = coefs[:, a:b].astype(np.float32) * np.float32(1 / 1024)
        for m in (2, 6):
            shape = packet_envelope(types[a:b], c32, m)
            for keep, dense in ((False, None), (True, False), (False, True)):  # both evaluations of the rules
                plan = PacketPlan(shape, coefs[:, a:b], 1 / 1024, m, 11, "laplace", "laplace", tables, keep=keep)
                plan.dense = dense
                for e in (-60, -31, -8, 0, 1, 9, 24, 61):
                    p = LayerParams(m, e // 2, 11, "laplace", "laplace", e % 2)
                    ints = quantize_coefficients(shape, c32, p)
                    ref = estimate_bits(ints, p, tables)
                    got = plan.bits(p.d, p.half)
                    assert list(got) == list(ref) and all(got[k] == ref[k] for k in ref)  # exact floats
                    if e in (-31, 0, 9):
                        data, bits = plan.encode(p.d, p.half, with_bits=True)
                        assert data == encode_packet(ints, p, tables)
                        assert bits == ref
                        back = decode_packet(data, b - a, channels, coefs.shape[-1], p, tables)
                        np.testing.assert_array_equal(back.q, ints.q)
                    checked += 1
    assert checked == 2 * 2 * 3 * 8

"""Entropy coders: exact integer round trips, learned coder vs zstd, estimate accuracy."""

from __future__ import annotations

import numpy as np
import pytest

from neuralcodec.entropy import (
    RANGE_CODER,
    ZSTD_CODER,
    Ladder,
    choose_indices,
    decode_packet,
    default_indices,
    encode_packet,
    estimate_bits,
)


def _latents(seed: int = 0, shape: tuple[int, int, int] = (2, 24, 64)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    scales = np.exp(rng.normal(0, 1.5, shape[:2]))[..., None]
    q = np.round(rng.laplace(0, 1, shape) * scales).astype(np.int64)
    q[:, :3] = 0  # some all-zero channels
    q[0, 5, 7] = 3000  # an outlier
    return q


@pytest.mark.parametrize("coder", [RANGE_CODER, ZSTD_CODER])
def test_round_trip_exact(coder: str) -> None:
    q = _latents()
    defaults = np.full(q.shape[:2], 30)
    data = encode_packet(q, defaults, coder, Ladder())
    assert np.array_equal(decode_packet(data, q.shape, defaults, coder, Ladder()), q)


def test_range_coder_beats_zstd_and_estimate_is_close() -> None:
    q = _latents(1, (2, 64, 256))
    d = np.full(q.shape[:2], 32)
    rng_bytes = len(encode_packet(q, d, RANGE_CODER, Ladder()))
    zstd_bytes = len(encode_packet(q, d, ZSTD_CODER, Ladder()))
    assert rng_bytes < 0.85 * zstd_bytes
    est = sum(estimate_bits(q[c], Ladder()) for c in range(2)) / 8
    assert abs(est - rng_bytes) / rng_bytes < 0.05


def test_zero_channels_cost_nothing_but_their_index() -> None:
    q = np.zeros((1, 32, 256), np.int64)
    assert (choose_indices(q[0], Ladder()) == 0).all()
    assert len(encode_packet(q, np.full((1, 32), 30), RANGE_CODER, Ladder())) <= 12


def test_default_indices_are_integer_and_monotone_in_step() -> None:
    prior = np.array([-40, 0, 37], dtype=np.int32)
    lad = Ladder()
    a = default_indices(prior, -16, 16, lad)
    b = default_indices(prior, 16, 16, lad)
    assert a.dtype == np.int64 and (a >= b).all() and (a - b == 8).all()

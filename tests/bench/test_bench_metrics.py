"""Metric sanity: identity is best, more noise is monotonically worse, delays are found."""

from __future__ import annotations

import numpy as np
import pytest
from bench_testutil import synth_music

from neuralcodec.bench.align import align, apply_delay, estimate_delay
from neuralcodec.bench.metrics import METRICS, VisqolScorer, compute_metrics, si_sdr

SR = 44100


def _ladder(signal: np.ndarray, levels: tuple[float, ...]) -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    noise = rng.standard_normal(signal.shape).astype(np.float32)
    return [signal + np.float32(level) * noise for level in levels]


def test_identical_signals_get_the_best_scores() -> None:
    x = synth_music(2.0, SR, 2, seed=1)
    m = compute_metrics(x, x.copy(), SR)
    assert m["lsd_db"] == 0.0
    assert m["mel_distance"] == 0.0
    assert m["mse"] == 0.0 and m["mae"] == 0.0
    assert m["r2"] == 1.0
    assert m["si_sdr_db"] > 150.0
    assert si_sdr(x[0], 0.5 * x[0]) > 150.0  # scale-invariant: gain is not an error


def test_noise_ladder_is_monotone_for_every_metric() -> None:
    x = synth_music(2.0, SR, 2, seed=2)
    levels = (0.001, 0.01, 0.1)
    rows = [compute_metrics(x, y, SR) for y in _ladder(x, levels)]
    for info in METRICS:
        if info.key == "visqol":
            continue
        values = [r[info.key] for r in rows]
        ordered = sorted(values, reverse=info.higher_is_better)
        assert values == ordered, f"{info.key} not monotone: {values}"
        assert len(set(values)) == len(values), f"{info.key} does not separate the levels: {values}"


def test_visqol_identity_beats_a_noise_ladder() -> None:
    """ViSQOL v3 audio mode: identical ~4.7, then strictly lower as noise grows (slow: ~1.5 s/call)."""
    x = synth_music(1.5, 48000, 1, seed=3)
    scorer = VisqolScorer()
    scores = [scorer.score(x, y, 48000) for y in [x, *_ladder(x, (0.003, 0.1))]]
    assert scores[0] > 4.5
    assert scores[0] > scores[1] > scores[2]
    assert all(1.0 <= s <= 5.0 for s in scores)


@pytest.mark.parametrize("delay", [0, 1105, 2113, -300])
def test_a_known_delay_is_found_and_removed(delay: int) -> None:
    x = synth_music(2.0, SR, 2, seed=4)
    rng = np.random.default_rng(5)
    if delay >= 0:
        y = np.concatenate([np.zeros((2, delay), np.float32), x], axis=1)
    else:
        y = x[:, -delay:]
    y = y + 0.02 * rng.standard_normal(y.shape).astype(np.float32)  # a codec adds noise too
    assert estimate_delay(x, y, max_lag=4410) == delay
    aligned, found = align(x, y, max_lag=4410)
    assert found == delay
    assert aligned.shape == x.shape
    if delay >= 0:
        assert compute_metrics(x, aligned, SR)["si_sdr_db"] > 12.0  # ~16 dB SNR of the added noise


def test_delay_search_honours_the_hint_centre() -> None:
    x = synth_music(1.0, SR, 1, seed=6)
    y = np.concatenate([np.zeros((1, 9000), np.float32), x], axis=1)
    assert estimate_delay(x, y, max_lag=500, center=8800) == 9000


def test_apply_delay_zero_fills_what_the_decoder_did_not_return() -> None:
    y = np.arange(1, 11, dtype=np.float32)[None, :]
    assert apply_delay(y, 2, 10).tolist() == [[3, 4, 5, 6, 7, 8, 9, 10, 0, 0]]
    assert apply_delay(y, -2, 6).tolist() == [[0, 0, 1, 2, 3, 4]]
    assert apply_delay(y[:, :4], 0, 6).tolist() == [[1, 2, 3, 4, 0, 0]]

"""Choose the quantizer step so the whole file hits the requested bitrate.

The encoder runs once; only the step is searched. Bits are first estimated from the Laplace
ladder (no range coding) on a sample of packets, then the real packets are coded and the step is
nudged if the measured size (header, packet framing and index included) is off by more than 2%.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np

from .entropy import Ladder, default_indices, estimate_bits
from .errors import MuzipError

_BITRATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(k|kb|kbps|kbit/s|kbit)?\s*$", re.IGNORECASE)


def parse_bitrate(value: str | float | int) -> float:
    """'16k', '16kbps', '16000' or 16 -> kbit/s. Bare numbers >= 1000 are bit/s, like opusenc."""
    if isinstance(value, (int, float)):
        kbps = float(value) / 1000 if value >= 1000 else float(value)
    else:
        m = _BITRATE.match(value)
        if not m:
            raise MuzipError(f"bitrate '{value}' is not understood (examples: 16k, 16kbps, 16000)")
        num = float(m.group(1))
        kbps = num if m.group(2) else (num / 1000 if num >= 1000 else num)
    if not kbps > 0:
        raise MuzipError(f"bitrate '{value}' must be positive")
    return kbps


def quantize(y: np.ndarray, step_index: int, offsets: np.ndarray, step_div: int) -> np.ndarray:
    """Latents ``[ch, D, F]`` -> integers at step 2**((step_index + offset_c)/step_div)."""
    steps = np.power(2.0, (step_index + offsets) / step_div)[:, None, None]
    return np.round(y / steps).astype(np.int64)


def estimate_payload_bits(y: np.ndarray, step_index: int, offsets: np.ndarray, step_div: int,
                          chunk: int, ladder: Ladder, prior_q16: np.ndarray, max_packets: int = 24) -> float:
    """Estimated payload bits of the whole file, from up to ``max_packets`` evenly spread packets."""
    defaults = [default_indices(prior_q16, step_index + o, step_div, ladder) for o in offsets]
    n_packets = -(-y.shape[2] // chunk)
    picks = np.unique(np.linspace(0, n_packets - 1, min(n_packets, max_packets)).round().astype(int))
    total = 0.0
    frames = 0
    for p in picks:
        seg = y[:, :, p * chunk : (p + 1) * chunk]
        q = quantize(seg, step_index, offsets, step_div)
        total += sum(estimate_bits(q[c], ladder, defaults[c]) for c in range(q.shape[0]))
        frames += seg.shape[2]
    return total * y.shape[2] / frames


def search_step(target_bits: float, estimate: Callable[[int], float], lo: int, hi: int,
                start: int | None = None, stride: int = 16) -> int:
    """Step index (bits fall as it grows) whose estimate lands nearest ``target_bits`` in [lo, hi].

    With ``start``, brackets the target from there in ``stride`` steps before bisecting (fewer
    estimates when the start is close: the transform family); otherwise from the range ends.
    """
    if start is not None:
        k = start
        if estimate(k) > target_bits:
            while k < hi and estimate(k) > target_bits:
                lo, k = k, min(hi, k + stride)
            hi = k
        else:
            while k > lo and estimate(k) <= target_bits:
                hi, k = k, max(lo, k - stride)
            lo = k
    if estimate(lo) <= target_bits:
        return lo
    if estimate(hi) > target_bits:
        return hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if estimate(mid) > target_bits:
            lo = mid
        else:
            hi = mid
    # pick whichever neighbour lands closer to the target
    return lo if abs(estimate(lo) - target_bits) < abs(estimate(hi) - target_bits) else hi


QUALITY_MAX = 10.0


def quality_step_index(quality: float, log2_step_min: float, log2_step_max: float, step_div: int) -> int:
    """Constant quality (``-V``): 0 (smallest files) .. 10 (best) mapped linearly onto the model's
    trained step range, 0 -> ``2**log2_step_max``, 10 -> ``2**log2_step_min``; the bitrate follows
    the music. Decimals are allowed (-V 6.5); the step moves in 1/step_div octaves."""
    if not 0.0 <= quality <= QUALITY_MAX:
        raise MuzipError(f"quality {quality:g} is outside 0-{QUALITY_MAX:g} (10 = best, 0 = smallest)")
    log2_step = log2_step_max - quality / QUALITY_MAX * (log2_step_max - log2_step_min)
    return int(round(log2_step * step_div))

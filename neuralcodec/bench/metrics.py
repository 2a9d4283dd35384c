"""Quality metrics for a decoded signal against its reference.

All sample-wise and spectral metrics are computed per channel on delay-aligned signals of
equal length (see :mod:`neuralcodec.bench.align`) and then averaged over channels, so damage
to the side channel of a stereo clip counts. ViSQOL, like the reference implementation,
works on the mono mid (mean of channels) at 48 kHz.

Definitions (``x`` reference, ``y`` decoded, one channel):

* ``lsd_db`` -- log-spectral distance, as an RMS in dB: STFT (Hann, 2048-point, hop 512,
  centred with zero padding) magnitudes scaled so that a full-scale sine peaks at 1 (0 dB),
  each floored at ``FLOOR_DB`` = -100 dB; then ``sqrt(mean over all frames and bins of
  (20 log10 |X| - 20 log10 |Y|)^2)``. The floor keeps inaudible near-silence from dominating;
  a codec that drops a band where the music has content is charged the full level gap.
* ``mel_distance`` -- mean over frames and 80 mel bands (HTK mel scale, triangular filters
  from 0 Hz to Nyquist, on the same STFT magnitudes) of ``|log10 M_x - log10 M_y|`` with the
  mel magnitudes floored at 1e-5 (-100 dB).
* ``si_sdr_db`` -- scale-invariant SDR (Le Roux et al., 2019) on the zero-mean waveforms.
* ``mse``, ``mae`` -- mean squared / absolute sample error (full scale = 1.0).
* ``r2`` -- coefficient of determination ``1 - sum((x - y)^2) / sum((x - mean x)^2)``.

These are plain numpy; no scipy is needed.
"""

from __future__ import annotations

import importlib.metadata
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from neuralcodec.bench.align import to_mono

FLOOR_DB = -100.0
N_FFT = 2048
HOP = 512
N_MELS = 80
_MAG_FLOOR = 10.0 ** (FLOOR_DB / 20.0)
_EPS = 1e-20


@dataclass(frozen=True)
class MetricInfo:
    """How to show and compare one metric."""

    key: str
    label: str
    unit: str
    higher_is_better: bool


METRICS: tuple[MetricInfo, ...] = (
    MetricInfo("visqol", "ViSQOL MOS-LQO", "", True),
    MetricInfo("lsd_db", "Log-spectral RMSE", "dB", False),
    MetricInfo("si_sdr_db", "SI-SDR", "dB", True),
    MetricInfo("mel_distance", "Mel distance", "", False),
    MetricInfo("mse", "MSE", "", False),
    MetricInfo("mae", "MAE", "", False),
    MetricInfo("r2", "R^2", "", True),
)
METRIC_BY_KEY: dict[str, MetricInfo] = {m.key: m for m in METRICS}


def _stft_blocks(x: np.ndarray, n_fft: int = N_FFT, hop: int = HOP, block: int = 256) -> Iterator[np.ndarray]:
    """Yield ``[frames, n_fft // 2 + 1]`` magnitude blocks of a 1-D signal, bounded in memory."""
    pad = n_fft // 2
    xp = np.concatenate([np.zeros(pad), np.asarray(x, dtype=np.float64), np.zeros(pad)])
    n_frames = 1 + max(0, (xp.size - n_fft) // hop)
    window = np.hanning(n_fft + 1)[:-1]  # periodic Hann
    scale = 2.0 / window.sum()  # a full-scale sine on a bin centre -> magnitude 1
    frames = np.lib.stride_tricks.sliding_window_view(xp, n_fft)[::hop][:n_frames]
    for start in range(0, n_frames, block):
        yield np.abs(np.fft.rfft(frames[start : start + block] * window, axis=1)) * scale


def mel_filterbank(sample_rate: int, n_fft: int = N_FFT, n_mels: int = N_MELS) -> np.ndarray:
    """Triangular filters ``[n_mels, n_fft // 2 + 1]`` equally spaced on the HTK mel scale."""

    def hz_to_mel(f: np.ndarray) -> np.ndarray:
        return 2595.0 * np.log10(1.0 + f / 700.0)

    def mel_to_hz(m: np.ndarray) -> np.ndarray:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)

    freqs = np.linspace(0.0, sample_rate / 2.0, n_fft // 2 + 1)
    edges = mel_to_hz(np.linspace(0.0, hz_to_mel(np.array(sample_rate / 2.0)), n_mels + 2))
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (freqs[None, :] - lower) / np.maximum(centre - lower, 1e-9)
    falling = (upper - freqs[None, :]) / np.maximum(upper - centre, 1e-9)
    return np.clip(np.minimum(rising, falling), 0.0, None)


def spectral_distances(reference: np.ndarray, degraded: np.ndarray, sample_rate: int) -> tuple[float, float]:
    """``(lsd_db, mel_distance)`` of two equal-length 1-D signals (see module docstring)."""
    fb = mel_filterbank(sample_rate)
    sq_sum = 0.0
    abs_sum = 0.0
    n_bins = 0
    n_mel = 0
    for mx, my in zip(_stft_blocks(reference), _stft_blocks(degraded), strict=True):
        dx = 20.0 * np.log10(np.maximum(mx, _MAG_FLOOR))
        dy = 20.0 * np.log10(np.maximum(my, _MAG_FLOOR))
        sq_sum += float(np.sum((dx - dy) ** 2))
        n_bins += dx.size
        gx = np.log10(np.maximum(mx @ fb.T, _MAG_FLOOR))
        gy = np.log10(np.maximum(my @ fb.T, _MAG_FLOOR))
        abs_sum += float(np.sum(np.abs(gx - gy)))
        n_mel += gx.size
    return math.sqrt(sq_sum / max(n_bins, 1)), abs_sum / max(n_mel, 1)


def si_sdr(reference: np.ndarray, degraded: np.ndarray) -> float:
    """Scale-invariant SDR in dB of two equal-length 1-D signals; NaN for a silent reference."""
    x = np.asarray(reference, dtype=np.float64)
    y = np.asarray(degraded, dtype=np.float64)
    x = x - x.mean()
    y = y - y.mean()
    energy = float(np.dot(x, x))
    if energy <= _EPS:
        return float("nan")
    target = (float(np.dot(y, x)) / energy) * x
    noise = y - target
    return 10.0 * math.log10((float(np.dot(target, target)) + _EPS) / (float(np.dot(noise, noise)) + _EPS))


def waveform_errors(reference: np.ndarray, degraded: np.ndarray) -> tuple[float, float, float]:
    """``(mse, mae, r2)`` of two equal-length 1-D signals; r2 is NaN for a constant reference."""
    x = np.asarray(reference, dtype=np.float64)
    y = np.asarray(degraded, dtype=np.float64)
    err = x - y
    sse = float(np.dot(err, err))
    sst = float(np.sum((x - x.mean()) ** 2))
    r2 = 1.0 - sse / sst if sst > _EPS else float("nan")
    return sse / max(x.size, 1), float(np.mean(np.abs(err))) if x.size else 0.0, r2


def compute_metrics(reference: np.ndarray, degraded: np.ndarray, sample_rate: int) -> dict[str, float]:
    """All non-ViSQOL metrics for aligned ``[channels, samples]`` arrays of the same shape."""
    ref = np.atleast_2d(reference)
    deg = np.atleast_2d(degraded)
    if ref.shape != deg.shape:
        raise ValueError(f"reference {ref.shape} and decoded {deg.shape} differ in shape; align first")
    if ref.shape[1] == 0:
        raise ValueError("empty signal")
    rows: list[dict[str, float]] = []
    for x, y in zip(ref, deg, strict=True):
        lsd, mel = spectral_distances(x, y, sample_rate)
        mse, mae, r2 = waveform_errors(x, y)
        rows.append({"lsd_db": lsd, "mel_distance": mel, "si_sdr_db": si_sdr(x, y), "mse": mse, "mae": mae, "r2": r2})
    return {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}


# ------------------------------------------------------------------------------------- ViSQOL

VISQOL_RATE = 48000


def visqol_version() -> str:
    """The installed visqol-python version (recorded in results, since scores vary by port)."""
    try:
        return importlib.metadata.version("visqol-python")
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def visqol_accelerated() -> bool:
    """Whether visqol-python will use numba (about 8x faster after the first, cached, compile)."""
    try:
        from visqol.numba_accel import has_numba
    except ImportError:
        return False
    return bool(has_numba())


def visqol_input(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """The mono-mid 48 kHz float64 signal ViSQOL audio mode expects."""
    from neuralcodec.bench.codecs import resample

    mono = to_mono(np.atleast_2d(audio))[None, :]
    return resample(mono.astype(np.float32), sample_rate, VISQOL_RATE)[0].astype(np.float64)


class VisqolScorer:
    """ViSQOL v3 audio mode (visqol-python, SVR model) MOS-LQO, 1 (bad) .. ~4.75 (identical)."""

    def __init__(self) -> None:
        try:
            from visqol import VisqolApi
        except ImportError as exc:
            raise RuntimeError("ViSQOL needs the visqol-python package (pip install visqol-python), or pass --no-visqol") from exc
        self._api = VisqolApi()
        self._api.create(mode="audio")

    def score_48k(self, reference: np.ndarray, degraded: np.ndarray) -> float:
        """MOS-LQO of two mono 48 kHz signals (see :func:`visqol_input`)."""
        return float(self._api.measure_from_arrays(reference, degraded, VISQOL_RATE).moslqo)

    def score(self, reference: np.ndarray, degraded: np.ndarray, sample_rate: int) -> float:
        """MOS-LQO of ``[channels, samples]`` (or 1-D) signals at any rate."""
        return self.score_48k(visqol_input(reference, sample_rate), visqol_input(degraded, sample_rate))

"""Reconstruction losses in perceptually relevant domains.

Time-domain MSE alone gives muffled or noisy output (the seed reports saw both), so the codec is
trained on multi-resolution log-magnitude spectra, a log-mel distance, and a phase-aware term on the
power-compressed complex STFT (without it the decoder invents phase: SI-SDR near -30 dB).
"""

from __future__ import annotations

import functools
import math

import torch

RESOLUTIONS = (256, 512, 1024, 2048)


@functools.lru_cache(maxsize=16)
def _window(n: int, device: str) -> torch.Tensor:
    return torch.hann_window(n, device=device)


@functools.lru_cache(maxsize=4)
def mel_filters(n_fft: int, n_mels: int, sample_rate: int, device: str) -> torch.Tensor:
    """Slaney-style triangular mel filterbank ``[n_mels, n_fft // 2 + 1]``."""
    def hz_to_mel(f: torch.Tensor) -> torch.Tensor:
        return 2595.0 * torch.log10(1.0 + f / 700.0)

    def mel_to_hz(m: torch.Tensor) -> torch.Tensor:
        return 700.0 * (10 ** (m / 2595.0) - 1.0)

    bins = torch.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    mels = torch.linspace(hz_to_mel(torch.tensor(20.0)), hz_to_mel(torch.tensor(sample_rate / 2)), n_mels + 2)
    hz = mel_to_hz(mels)
    lo, mid, hi = hz[:-2, None], hz[1:-1, None], hz[2:, None]
    up = (bins[None] - lo) / (mid - lo)
    down = (hi - bins[None]) / (hi - mid)
    fb = torch.clamp(torch.minimum(up, down), min=0.0)
    return (fb / fb.sum(dim=1, keepdim=True).clamp_min(1e-8)).to(device)


def _stft(x: torch.Tensor, n: int) -> torch.Tensor:
    return torch.stft(x, n, n // 4, window=_window(n, str(x.device)), center=True, return_complex=True)


def codec_loss(x: torch.Tensor, y: torch.Tensor, sample_rate: int = 44100) -> dict[str, torch.Tensor]:
    """Loss terms for reference ``x`` and reconstruction ``y``, both ``[B, 1, T]``."""
    x2, y2 = x.reshape(x.shape[0], -1), y.reshape(y.shape[0], -1)
    logmag = torch.zeros((), device=x.device)
    conv = torch.zeros((), device=x.device)
    mel = torch.zeros((), device=x.device)
    cplx = torch.zeros((), device=x.device)
    for n in RESOLUTIONS:
        sx, sy = _stft(x2, n), _stft(y2, n)
        mx, my = sx.abs(), sy.abs()
        logmag = logmag + (torch.log(mx + 1e-5) - torch.log(my + 1e-5)).abs().mean()
        conv = conv + torch.linalg.norm(mx - my) / (torch.linalg.norm(mx) + 1e-7)
        if n == 2048:
            fb = mel_filters(n, 80, sample_rate, str(x.device))
            mel = (torch.log(fb @ mx + 1e-5) - torch.log(fb @ my + 1e-5)).abs().mean()
        if n == 1024:
            cx = sx * (mx.clamp_min(1e-7) ** -0.7)
            cy = sy * (my.clamp_min(1e-7) ** -0.7)
            cplx = (cx - cy).abs().pow(2).mean() / ((cx.abs() ** 2).mean() + 1e-7)
    k = len(RESOLUTIONS)
    wave = (x2 - y2).abs().mean() / (x2.abs().mean() + 1e-5)
    return {"logmag": logmag / k, "sc": conv / k, "mel": mel, "complex": cplx, "wave": wave}


def spectral_terms(target: torch.Tensor, predicted: torch.Tensor, reanalysed: torch.Tensor) -> dict[str, torch.Tensor]:
    """Losses on a decoder's *predicted* complex spectrum (frequency-domain models).

    ``target``: STFT of the reference on the model's own frame grid; ``reanalysed``: STFT of the
    decoder's iSTFT output. Supervising the prediction directly gives phase a strong gradient, and
    the consistency term penalises spectra that no signal has: with 75% frame overlap, inconsistent
    phase cancels in overlap-add (our first model lost ~10 dB that way while predicting +6 dB).
    """
    def comp(z: torch.Tensor) -> torch.Tensor:
        return z * (z.abs().clamp_min(1e-7) ** -0.7)

    ct, cp, cr = comp(target), comp(predicted), comp(reanalysed)
    norm = (ct.abs() ** 2).mean() + 1e-7
    spec = (cp - ct).abs().pow(2).mean() / norm
    spec_mag = (torch.log(predicted.abs() + 1e-5) - torch.log(target.abs() + 1e-5)).abs().mean()
    consistency = (cp - cr).abs().pow(2).mean() / norm
    return {"spec": spec, "spec_mag": spec_mag, "consistency": consistency}


def si_sdr(ref: torch.Tensor, est: torch.Tensor) -> torch.Tensor:
    """Scale-invariant SDR in dB per batch item (``[B, T]``), for monitoring during training."""
    ref = ref - ref.mean(dim=-1, keepdim=True)
    est = est - est.mean(dim=-1, keepdim=True)
    alpha = (ref * est).sum(-1, keepdim=True) / (ref.pow(2).sum(-1, keepdim=True) + 1e-9)
    target = alpha * ref
    return 10 * torch.log10(target.pow(2).sum(-1) / ((est - target).pow(2).sum(-1) + 1e-9) + 1e-9)


LOSS_WEIGHTS = {"logmag": 1.0, "sc": 1.0, "mel": 1.0, "complex": 1.0, "wave": 0.5,
                "spec": 1.0, "spec_mag": 0.5, "consistency": 1.0}
LN2 = math.log(2.0)

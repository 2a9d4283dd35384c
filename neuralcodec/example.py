"""Write a generated 10 s stereo music-like example (chords, bass, hi-hat noise) for a first run.

    python -m neuralcodec.example example.wav
"""

from __future__ import annotations

import sys

import numpy as np
import soundfile as sf


def make_example(seconds: float = 10.0, rate: int = 44100, seed: int = 0) -> np.ndarray:
    """``[2, samples]`` float32: a I-vi-IV-V progression with bass, pads and noise percussion."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    t = np.arange(n) / rate
    out = np.zeros((2, n), np.float32)
    chords = [(261.63, 329.63, 392.0), (220.0, 261.63, 329.63), (174.61, 220.0, 261.63), (196.0, 246.94, 293.66)]
    beat = 0.5
    for i in range(int(seconds / (4 * beat)) + 1):
        s, e = int(i * 4 * beat * rate), min(n, int((i + 1) * 4 * beat * rate))
        if s >= n:
            break
        tt = t[s:e] - t[s]
        env = np.minimum(1.0, tt * 20) * np.exp(-tt * 0.6)
        for k, f in enumerate(chords[i % 4]):
            tone = sum(np.sin(2 * np.pi * f * h * tt) / h**1.5 for h in range(1, 7))
            out[k % 2, s:e] += (0.08 * env * tone).astype(np.float32)
            out[(k + 1) % 2, s:e] += (0.05 * env * tone).astype(np.float32)
        bass = np.sin(2 * np.pi * chords[i % 4][0] / 2 * tt) * np.exp(-tt * 1.5)
        out[:, s:e] += (0.2 * bass).astype(np.float32)
    for b in np.arange(0, seconds, beat / 2):
        s = int(b * rate)
        m = min(n - s, int(0.08 * rate))
        hat = rng.normal(0, 1, m) * np.exp(-np.arange(m) / (0.015 * rate))
        hat = np.diff(hat, prepend=0.0)  # brighter
        out[0, s : s + m] += (0.05 * hat).astype(np.float32)
        out[1, s : s + m] += (0.04 * hat).astype(np.float32)
    return out / max(1.0, float(np.abs(out).max()) / 0.9)


def main() -> None:
    path = sys.argv[1] if len(sys.argv) > 1 else "example.wav"
    sf.write(path, make_example().T, 44100, subtype="PCM_16")
    print(f"wrote {path} (10 s, 44.1 kHz stereo)", file=sys.stderr)


if __name__ == "__main__":
    main()

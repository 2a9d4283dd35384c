"""Write the golden files of the current format version (run on purpose, never by the tests).

    python tests/data/golden/make_golden.py 2.0     (or 1.0: each version's cases are listed below)

Each case is a short generated clip encoded with a shipped model; ``golden.json`` records the
file's sha256, the sha256 of its integers (latents; for 2.0 the transform layer's integers) (bit-exact on any machine: the format's promise)
and of its decode quantized to 16 bits without dither, and the decode itself is kept as a 16-bit
FLAC so other machines (other CPUs round floats differently) can be held to a tolerance.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

HERE = Path(__file__).resolve().parent
CASES = [  # name, model, coder, rate, channels, seconds, bitrate
    ("freq-range-stereo-44k", "freq", "laplace-range-v1", 44100, 2, 1.0, "16k"),
    ("time-range-mono-48k", "time", "laplace-range-v1", 48000, 1, 0.6, "12k"),
    ("freq-zstd-mono-22k", "freq", "zstd-v1", 22050, 1, 0.5, "24k"),
]
CASES_BY_VERSION = {
    "1.0": CASES,
    "2.0": [  # the transform family: 7 s spans two packets; the example has onsets (short blocks)
        ("mdct-stereo-44k", "mdct", "mdct-tables-v1", 44100, 2, 7.0, "16k"),
        ("mdct-mono-48k", "mdct", "mdct-tables-v1", 48000, 1, 2.0, "8k"),
        ("mdct-laplace-stereo-32k", "mdct", "mdct-laplace-v1", 32000, 2, 2.0, "32k"),
    ],
}


def latents_sha(data: bytes) -> str:
    """sha256 of every packet's integer latents, int32 little-endian, in packet order."""
    from neuralcodec.api import MzpReader

    h = hashlib.sha256()
    with MzpReader(data, device="cpu") as r:
        if r.core is not None:  # the transform family: every integer of every packet
            for p in range(r.header.n_packets):
                ints, _ = r.core.packet(p)
                h.update(np.int64(ints.cutoff).astype("<i8").tobytes())
                for a in (ints.types, ints.env, ints.prof, ints.q):
                    h.update(np.ascontiguousarray(a).astype("<i4").tobytes())
            return h.hexdigest()
        for p in range(r.header.n_packets):
            q = np.round(r.packet_latents(p) / r.steps[:, None, None]).astype("<i4")
            h.update(q.tobytes())
    return h.hexdigest()


def pcm16(audio: np.ndarray) -> np.ndarray:
    return np.round(np.clip(audio, -1.0, 1.0) * 32767).astype("<i2")


def main(version: str) -> None:
    import neuralcodec as nc
    from neuralcodec.example import make_example

    torch.set_num_threads(1)
    out = HERE / f"v{version}"
    out.mkdir(parents=True, exist_ok=True)
    cases = {}
    for name, model, coder, rate, channels, seconds, bitrate in CASES_BY_VERSION[version]:
        x = make_example(seconds, rate)[:channels]
        data = nc.encode(x, rate, bitrate, model=model, device="cpu", coder=coder)
        y, r = nc.decode(data, device="cpu")
        q = pcm16(y)
        (out / f"{name}.mzp").write_bytes(data)
        sf.write(out / f"{name}.ref.flac", q.T, r, subtype="PCM_16")
        cases[name] = {"file_sha256": hashlib.sha256(data).hexdigest(), "latents_sha256": latents_sha(data),
                       "pcm16_sha256": hashlib.sha256(q.tobytes()).hexdigest(), "sample_rate": r,
                       "channels": channels, "samples": int(y.shape[1]), "model": model, "coder": coder}
    (out / "golden.json").write_text(json.dumps({"format": version, "cases": cases}, indent=1) + "\n")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "1.0")

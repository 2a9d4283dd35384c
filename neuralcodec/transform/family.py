"""Header fields of the transform family ("mdct", format 2.x) and their checks. No torch here.

Registered with the validating header reader (:mod:`neuralcodec.header`) on import; the container
imports this module so that every reader knows the family before it reads a header.
"""

from __future__ import annotations

from .. import header as H
from ..errors import FormatError
from .codec import HOP, n_frames
from .packet import CODER
from .tables import ENV_STEPS, KINDS

FAMILY = "mdct"
MAJOR = 2  # the container version that carries this family
SAMPLE_RATE = 44100
D_MIN, D_MAX = -160, 160  # global step offset the encoder searches (1/8 octave)

LAYER_FIELDS: dict[str, H.Spec] = {
    "model_sample_rate": H.Int(SAMPLE_RATE, SAMPLE_RATE),
    "model_samples": H.Int(1, H.MAX_SAMPLES),
    "hop": H.Int(HOP, HOP),
    "context_frames": H.Int(1, 1),
    "coding": H.OneOf(("mono", "ms")),
    "layer": H.Obj({"m": H.Int(min(ENV_STEPS), max(ENV_STEPS)), "d": H.Int(D_MIN - 64, D_MAX + 64),
                    "h": H.Int(0, 1), "alpha16": H.Int(0, 16), "envelope": H.OneOf(KINDS), "coefficients": H.OneOf(KINDS)}),
}


def _check(f: dict) -> None:
    if f["coding"] != ("mono" if f["channels"] == 1 else "ms"):
        raise FormatError(f"header field 'coding' = '{f['coding']}' does not match {f['channels']} channel(s)")
    if f["layer"]["m"] not in ENV_STEPS:
        raise FormatError(f"header field 'layer.m' = {f['layer']['m']} is not one of {ENV_STEPS}")
    sr, n, mn = f["sample_rate"], f["samples"], f["model_samples"]
    if abs(mn * sr - n * SAMPLE_RATE) > 2 * sr:
        raise FormatError(f"header fields disagree: {n} samples at {sr} Hz cannot be {mn} samples at {SAMPLE_RATE} Hz")
    if f["frames"] != n_frames(mn):
        raise FormatError(f"header fields disagree: {mn} samples make {n_frames(mn)} frames, not {f['frames']}")


H.register_family(FAMILY, LAYER_FIELDS, _check, (CODER,), (MAJOR,))



"""Validation of .mzp header fields: every value is type- and range-checked before anything is allocated.

The header JSON comes from the file, so nothing in it is trusted: a field that is the wrong type,
out of range, or inconsistent with the rest of the header (or with the file's real size) is refused
with a :class:`FormatError` naming the field. The checks are tables, in two layers:

- ``COMMON``: fields every codec family carries (model, rates, channels, counts, coder);
- a family's own table and cross-check, registered with :func:`register_family`. The autoencoder
  families ``freq`` and ``time`` are registered at the bottom of this module; another family
  registers itself from its own module, without touching this one::

      from neuralcodec import header as H
      H.register_family("mdct", {"bands": H.Int(1, 64)}, check=my_cross_check,
                        coders=("mdct-range-v1",), majors=(2,), model_check=my_model_check)

The layout checks (packets and index against the file size) live in :mod:`neuralcodec.container`,
which knows the byte layout; this module only knows what the fields mean. No torch here.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import FormatError

MIN_RATE, MAX_RATE = 8000, 192000
MAX_SAMPLES = 1 << 40  # absolute cap (~66 days at 192 kHz); the file size bounds it far lower
MAX_FRAMES = 1 << 32
MAX_CHUNK_FRAMES = 4096  # decoding memory is bounded by one chunk (+ context)
MAX_LATENT_DIM = 1024
MAX_HOP = 1 << 16
MAX_STRING = 64  # no header string printed to a terminal is longer

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}")
_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,31}")
_HEX = re.compile(r"[0-9a-f]{16}|[0-9a-f]{64}")


def printable(value: object, limit: int = MAX_STRING) -> str:
    """``value`` made safe for a terminal: control and non-ASCII bytes escaped, length capped.

    Anything from a file that reaches an error message goes through here, so an escape sequence
    in a header cannot recolour, move or clear the user's terminal.
    """
    text = value if isinstance(value, str) else repr(value)
    text = text[: limit * 4]
    out = "".join(ch if " " <= ch <= "~" else ascii(ch)[1:-1] for ch in text)
    return out if len(out) <= limit else out[: limit - 3] + "..."


def _kind(v: object) -> str:
    if v is None:
        return "null"
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list",
            dict: "an object"}.get(type(v), type(v).__name__)


# -- field specifications ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Int:
    """An integer (JSON booleans and floats are refused) in ``[lo, hi]``."""

    lo: int
    hi: int

    def check(self, v: object, name: str) -> None:
        if type(v) is not int:
            raise FormatError(f"header field '{name}' must be an integer, found {_kind(v)}")
        if not self.lo <= v <= self.hi:
            raise FormatError(f"header field '{name}' = {printable(v, 24)} is out of range ({self.lo} to {self.hi})")


@dataclass(frozen=True)
class Text:
    """A string matching ``pattern`` in full (``what`` says what it should look like)."""

    pattern: re.Pattern[str]
    what: str

    def check(self, v: object, name: str) -> None:
        if type(v) is not str:
            raise FormatError(f"header field '{name}' must be a string, found {_kind(v)}")
        if not self.pattern.fullmatch(v):
            raise FormatError(f"header field '{name}' = '{printable(v)}' is not {self.what}")


@dataclass(frozen=True)
class OneOf:
    """One of a fixed set of strings."""

    choices: tuple[str, ...]

    def check(self, v: object, name: str) -> None:
        if type(v) is not str or v not in self.choices:
            raise FormatError(f"header field '{name}' = '{printable(v)}' is not one of {', '.join(self.choices)}")


@dataclass(frozen=True)
class Obj:
    """A JSON object with these required fields (unknown keys inside are ignored)."""

    fields: Mapping[str, Spec]

    def check(self, v: object, name: str) -> None:
        if type(v) is not dict:
            raise FormatError(f"header field '{name}' must be an object, found {_kind(v)}")
        check_fields(v, self.fields, name + ".")


Spec = Int | Text | OneOf | Obj


def check_fields(values: dict, table: Mapping[str, Spec], prefix: str = "") -> None:
    """Check every field of ``table`` in ``values``: all present, each of its type and range."""
    missing = [prefix + k for k in table if k not in values]
    if missing:
        raise FormatError(f"header lacks required field(s): {', '.join(missing)}")
    for key, spec in table.items():
        spec.check(values[key], prefix + key)


COMMON: dict[str, Spec] = {
    "model": Obj({"id": Text(_ID, "a model id (letters, digits, '._+-', at most 64)"),
                  "sha256": Text(_HEX, "16 or 64 lowercase hex digits"),
                  "family": Text(_NAME, "a codec family name")}),
    "sample_rate": Int(MIN_RATE, MAX_RATE),
    "channels": Int(1, 2),
    "samples": Int(1, MAX_SAMPLES),
    "frames": Int(1, MAX_FRAMES),
    "chunk_frames": Int(1, MAX_CHUNK_FRAMES),
    "coder": Text(_NAME, "an entropy coder name"),
}


# -- families -----------------------------------------------------------------------------------------

CrossCheck = Callable[[dict], None]
ModelCheck = Callable[[dict, Any], None]


@dataclass(frozen=True)
class Family:
    """What one codec family adds to :data:`COMMON`.

    ``fields``: its own field table; ``check(fields)``: cross-checks between fields (runs after
    every table check passed, so it may index freely); ``coders``: the entropy coders it may name;
    ``majors``: the format major versions that may carry it (None: any the container accepts);
    ``model_check(fields, model)``: run by the reader once the named model is loaded.
    """

    name: str
    fields: Mapping[str, Spec]
    check: CrossCheck | None = None
    coders: tuple[str, ...] = ()
    majors: tuple[int, ...] | None = None
    model_check: ModelCheck | None = None


_FAMILIES: dict[str, Family] = {}


def register_family(name: str, fields: Mapping[str, Spec], check: CrossCheck | None = None,
                    coders: tuple[str, ...] = (), majors: tuple[int, ...] | None = None,
                    model_check: ModelCheck | None = None) -> Family:
    """Register (or replace) a codec family's header checks; returns the entry."""
    fam = Family(name, dict(fields), check, tuple(coders), None if majors is None else tuple(majors), model_check)
    _FAMILIES[name] = fam
    return fam


def families() -> tuple[str, ...]:
    return tuple(_FAMILIES)


def family(name: str) -> Family:
    if name not in _FAMILIES:
        raise FormatError(f"unknown codec family '{printable(name)}' (this muzip reads {', '.join(_FAMILIES)}); "
                          f"upgrade muzip")
    return _FAMILIES[name]


def required_keys(fam: Family) -> tuple[str, ...]:
    return tuple(COMMON) + tuple(k for k in fam.fields if k not in COMMON)


def validate(fields: object, major: int = 1) -> Family:
    """Check a parsed header (common table, then the family's table and cross-check).

    Returns the family entry. Nothing here allocates in proportion to a field's value.
    """
    if type(fields) is not dict:
        raise FormatError(f"header is not a JSON object (found {_kind(fields)})")
    check_fields(fields, COMMON)
    fam = family(fields["model"]["family"])
    if fam.majors is not None and major not in fam.majors:
        raise FormatError(f"codec family '{fam.name}' cannot appear in format version {major}.x")
    check_fields(fields, fam.fields)
    if fam.coders and fields["coder"] not in fam.coders:
        raise FormatError(f"entropy coder '{printable(fields['coder'])}' is unknown to family '{fam.name}' "
                          f"(known: {', '.join(fam.coders)})")
    if fam.check is not None:
        fam.check(fields)
    return fam


def check_model(fields: dict, model: Any) -> None:
    """Cross-check a validated header against the model it names (its family's ``model_check``)."""
    fam = family(fields["model"]["family"])
    if fam.model_check is not None:
        fam.model_check(fields, model)


# -- the autoencoder families (freq, time) --------------------------------------------------------------

STEP_DIV = 16  # the decoder's step unit (models.base.STEP_DIV, repeated here to keep torch out)
MAX_SIGMA_OCTAVES = 24  # the scale ladder spans at most 2**-24 .. 2**24 quantizer steps

AUTOENCODER_FIELDS: dict[str, Spec] = {
    "model_sample_rate": Int(MIN_RATE, MAX_RATE),
    "model_samples": Int(1, MAX_SAMPLES),
    "hop": Int(1, MAX_HOP),
    "latent_dim": Int(1, MAX_LATENT_DIM),
    "context_frames": Int(0, MAX_CHUNK_FRAMES),
    "coding": OneOf(("mono", "ms")),
    "step_index": Int(-64 * STEP_DIV, 64 * STEP_DIV),
    "step_div": Int(STEP_DIV, STEP_DIV),
    "side_step_offset": Int(-4 * STEP_DIV, 4 * STEP_DIV),
    # count >= 3: the coder's index model spans [1, count - 1] and needs two symbols at least
    "ladder": Obj({"count": Int(3, 256), "center": Int(0, 255), "per_octave": Int(1, 64)}),
}


def _autoencoder_check(f: dict) -> None:
    want = "mono" if f["channels"] == 1 else "ms"
    if f["coding"] != want:
        raise FormatError(f"header field 'coding' = '{f['coding']}' does not match {f['channels']} channel(s)")
    if f["coding"] == "mono" and f["side_step_offset"] != 0:
        raise FormatError("header field 'side_step_offset' must be 0 for mono coding")
    lad = f["ladder"]
    if lad["center"] >= lad["count"]:
        raise FormatError(f"header field 'ladder.center' = {lad['center']} is not below ladder.count = {lad['count']}")
    if max(lad["center"], lad["count"] - 1 - lad["center"]) > MAX_SIGMA_OCTAVES * lad["per_octave"]:
        raise FormatError("header field 'ladder' spans implausible scales (more than "
                          f"2**{MAX_SIGMA_OCTAVES} steps either way)")
    sr, msr, n, mn = f["sample_rate"], f["model_sample_rate"], f["samples"], f["model_samples"]
    # the encoder resamples n samples at sr to mn at msr: mn = n * msr / sr within a sample or two
    if abs(mn * sr - n * msr) > 2 * sr:
        raise FormatError(f"header fields disagree: {n} samples at {sr} Hz cannot be {mn} samples at {msr} Hz")
    frames = max(1, -(-mn // f["hop"]))
    if f["frames"] != frames:
        raise FormatError(f"header fields disagree: {mn} model samples at hop {f['hop']} make {frames} frames, "
                          f"not {f['frames']}")


def _autoencoder_model_check(f: dict, model: Any) -> None:
    """The file must have been made by this model: same rate, hop, latent size, context, step range."""
    cfg = model.config
    for key, have in (("model_sample_rate", cfg.sample_rate), ("hop", cfg.hop), ("latent_dim", cfg.latent_dim),
                      ("context_frames", cfg.context_frames)):
        if f[key] != have:
            raise FormatError(f"header field '{key}' = {f[key]} does not match model '{printable(f['model']['id'])}' "
                              f"({have})")
    # the encoder searches log2(step) in [log2_step_min - 2, log2_step_max + 6] (+ the side offset)
    lo = math.floor((cfg.log2_step_min - 4) * STEP_DIV)
    hi = math.ceil((cfg.log2_step_max + 8) * STEP_DIV)
    for k in (f["step_index"], f["step_index"] + f["side_step_offset"]):
        if not lo <= k <= hi:
            raise FormatError(f"header field 'step_index' = {f['step_index']} is outside what model "
                              f"'{printable(f['model']['id'])}' codes ({lo}..{hi} with the side offset)")


AUTOENCODER_CODERS = ("laplace-range-v1", "zstd-v1")
for _name in ("freq", "time"):
    register_family(_name, AUTOENCODER_FIELDS, _autoencoder_check, AUTOENCODER_CODERS, None,
                    _autoencoder_model_check)

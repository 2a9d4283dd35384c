"""Parsing of the small user-facing values the bench takes: bitrates and comma lists."""

from __future__ import annotations

import re

_KBPS_RE = re.compile(
    r"^\s*(?P<num>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*(?P<unit>k|kb|kbps|kbit/s|kbit|kb/s|bps|b/s)?\s*$",
    re.IGNORECASE,
)


class BenchError(ValueError):
    """Bad input to the bench (a path, an option value); shown to the user as one line."""


def parse_kbps(text: str) -> float:
    """Turn ``16k``, ``16kbps``, ``16.5k`` or ``16000`` into kbit/s (here 16.0).

    A bare number of 1000 or more is read as bit/s (``16000`` -> 16.0), a smaller bare
    number as kbit/s (``16`` -> 16.0), because both spellings are common on the command
    line and a music codec below 1 kbit/s or above 1 Mbit/s makes no sense.
    """
    m = _KBPS_RE.match(str(text))
    if m is None:
        raise BenchError(f"cannot read bitrate {text!r}: use e.g. 16k, 16kbps or 16000")
    value = float(m.group("num"))
    unit = (m.group("unit") or "").lower()
    if unit in ("bps", "b/s"):
        kbps = value / 1000.0
    elif unit:
        kbps = value
    else:
        kbps = value / 1000.0 if value >= 1000 else value
    if not 0.5 <= kbps <= 2000:
        raise BenchError(f"bitrate {text!r} is {kbps:g} kbit/s; expected 0.5 to 2000 kbit/s")
    return kbps


def parse_kbps_list(text: str) -> list[float]:
    """Parse ``8k,16k,32k`` into sorted unique kbit/s values."""
    items = [t for t in (s.strip() for s in str(text).split(",")) if t]
    if not items:
        raise BenchError("no bitrates given: use e.g. --bitrates 8k,16k,32k")
    return sorted({parse_kbps(t) for t in items})


def parse_name_list(text: str) -> list[str]:
    """Parse ``freq,time,mp3`` into a de-duplicated list, keeping the user's order."""
    names: list[str] = []
    for raw in str(text).split(","):
        name = raw.strip().lower()
        if name and name not in names:
            names.append(name)
    if not names:
        raise BenchError("no codecs given: use e.g. --codecs mp3,opus,resample")
    return names


def format_kbps(kbps: float) -> str:
    """Short label for a bitrate: 16.0 -> '16', 6.5 -> '6.5'."""
    return f"{kbps:g}"

"""Training data: the Debian-music corpus, its fixed track split, FMA folders, excerpts, clips.

Typical use::

    build_corpus("data/corpus")                       # or: muzip data data/corpus
    train = ExcerptSampler("data/corpus/manifest.json", "train", excerpt_seconds=2.0)
    batch = train.batch(16)                           # float32 [16, 2, 88200] at 44.1 kHz

Torch is imported only when ``ExcerptSampler`` (or the sampler module) is first used, so the CLI
can register ``data_command`` without paying torch's start-up time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .cache import build_cache, decode_stereo, ensure_cached
from .clips import active_starts, make_validation_clips, plan_clips
from .command import data_command
from .corpus import (
    DEFAULT_PACKAGES,
    MANIFEST_NAME,
    SPLITS,
    DataError,
    Track,
    assign_splits,
    build_corpus,
    group_key,
    load_tracks,
    read_manifest,
    scan_packages,
    write_manifest,
)
from .fma import fma_tracks

if TYPE_CHECKING:
    from .sampler import NO_AUGMENT, Augment, ExcerptSampler, excerpts_per_second

_LAZY = {"ExcerptSampler", "Augment", "NO_AUGMENT", "excerpts_per_second"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from . import sampler

        return getattr(sampler, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DEFAULT_PACKAGES",
    "MANIFEST_NAME",
    "NO_AUGMENT",
    "SPLITS",
    "Augment",
    "DataError",
    "ExcerptSampler",
    "Track",
    "active_starts",
    "assign_splits",
    "build_cache",
    "build_corpus",
    "data_command",
    "decode_stereo",
    "ensure_cached",
    "excerpts_per_second",
    "fma_tracks",
    "group_key",
    "load_tracks",
    "make_validation_clips",
    "plan_clips",
    "read_manifest",
    "scan_packages",
    "write_manifest",
]

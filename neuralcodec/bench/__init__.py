"""Rate-quality and speed benchmark (``muzip bench``): baselines, metrics, report and plots.

Importing this package is light (numpy, soundfile, soxr); torch is only imported by the muzip
codecs, inside their worker processes, and visqol/matplotlib/rich only when used.
"""

from neuralcodec.bench.align import align, apply_delay, estimate_delay
from neuralcodec.bench.codecs import (
    BUILTIN_CODECS,
    Codec,
    CodecError,
    CodecSpec,
    CodecUnavailable,
    ExternalSpec,
    make_codec,
    parse_external,
    resolve_codecs,
)
from neuralcodec.bench.metrics import METRICS, VisqolScorer, compute_metrics, si_sdr
from neuralcodec.bench.runner import BenchConfig, BenchResults, RunRecord, run_bench
from neuralcodec.bench.units import BenchError, parse_kbps, parse_kbps_list

__all__ = [
    "BUILTIN_CODECS",
    "METRICS",
    "BenchConfig",
    "BenchError",
    "BenchResults",
    "Codec",
    "CodecError",
    "CodecSpec",
    "CodecUnavailable",
    "ExternalSpec",
    "RunRecord",
    "VisqolScorer",
    "align",
    "apply_delay",
    "compute_metrics",
    "estimate_delay",
    "make_codec",
    "parse_external",
    "parse_kbps",
    "parse_kbps_list",
    "resolve_codecs",
    "run_bench",
    "si_sdr",
]

"""Run the rate-quality and speed comparison: clips x codecs x bitrates.

The run has two phases so that speed figures are not disturbed by the metric work:

1. Coding. Each codec runs in its own worker process (:mod:`.worker`, one at a time), which is
   prepared once (imports, model load, warm-up: reported as ``startup_s``) and then encodes
   and decodes every clip at every bitrate, timing each step and measuring its peak memory
   (see :mod:`neuralcodec.bench.measure`). A worker keeps torch and model memory out of the
   bench process, and a crash only fails that codec's run. After each step the bench
   process aligns the decoded audio and computes the cheap metrics.
2. ViSQOL. visqol-python is pure Python and slow (measured about 7.7 s per 10 s clip on one
   core without numba, about 1 s with numba), so its pairs run last, in ``jobs`` parallel
   worker processes when ``jobs > 1`` (in the bench process itself when ``jobs == 1``).

Failures of one codec run are recorded (``ok: false`` with the error) and the rest goes on.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import queue
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import soundfile as sf

from neuralcodec.bench.align import align
from neuralcodec.bench.codecs import Codec, CodecError, CodecSpec, make_codec, read_audio
from neuralcodec.bench.measure import current_rss_mib, track_step
from neuralcodec.bench.metrics import (
    VisqolScorer,
    compute_metrics,
    visqol_accelerated,
    visqol_input,
    visqol_version,
)
from neuralcodec.bench.units import BenchError, format_kbps
from neuralcodec.bench.worker import WorkerCrashed, WorkerError, WorkerProcess

AUDIO_EXTENSIONS: frozenset[str] = frozenset(
    {
        "wav", "wave", "flac", "ogg", "oga", "opus", "mp3", "aif", "aiff", "aifc", "au", "snd",
        "caf", "w64", "rf64", "voc", "paf", "svx", "nist", "sph", "sd2", "mat", "mat4", "mat5",
        "htk", "sds", "xi", "avr", "wve", "ircam", "sf", "pvf", "mpc",
    }
)
MIN_CLIP_SECONDS = 0.25
RESULTS_VERSION = 1


class ProgressSink(Protocol):
    """Where the runner reports progress (the CLI renders it with rich)."""

    def begin(self, task: str, total: int, description: str) -> None:
        """A phase with ``total`` steps starts."""

    def advance(self, task: str, description: str) -> None:
        """One step of ``task`` finished; ``description`` names it."""


class _NoProgress:
    def begin(self, task: str, total: int, description: str) -> None:
        return None

    def advance(self, task: str, description: str) -> None:
        return None


@dataclass
class BenchConfig:
    """Everything one bench run needs; built by the CLI or by scripts."""

    inputs: list[Path]
    bitrates: list[float]
    codecs: list[CodecSpec]
    out_dir: Path
    jobs: int = 1
    seconds: float | None = None
    visqol: bool = True
    keep_audio: bool = False
    max_delay_s: float = 0.25

    def validate(self) -> None:
        """Refuse bad values with a message that says what to do."""
        if not self.inputs:
            raise BenchError("no inputs: give audio files or folders")
        if not self.bitrates:
            raise BenchError("no bitrates: use e.g. --bitrates 8k,16k,32k")
        if not self.codecs:
            raise BenchError("no codecs: use e.g. --codecs mp3,opus,resample")
        if self.jobs < 1:
            raise BenchError(f"--jobs must be at least 1, got {self.jobs}")
        if self.seconds is not None and self.seconds < MIN_CLIP_SECONDS:
            raise BenchError(f"--seconds must be at least {MIN_CLIP_SECONDS}, got {self.seconds:g}")
        if self.max_delay_s < 0:
            raise BenchError("the delay search range must be >= 0 s")


@dataclass
class Clip:
    """One reference clip, cropped and written as WAV into the work folder."""

    id: str
    source: str
    path: Path
    sample_rate: int
    channels: int
    frames: int

    @property
    def duration_s(self) -> float:
        """Length in seconds (the denominator of every real bitrate)."""
        return self.frames / self.sample_rate


@dataclass
class RunRecord:
    """One (clip, codec, bitrate) result; ``ok`` False carries ``error`` instead of numbers."""

    clip: str
    codec: str
    target_kbps: float
    ok: bool = False
    error: str | None = None
    detail: str = ""
    encoded_bytes: int | None = None
    real_kbps: float | None = None
    duration_s: float = 0.0
    delay_samples: int | None = None
    encode_s: float | None = None
    decode_s: float | None = None
    encode_rtf: float | None = None
    decode_rtf: float | None = None
    encode_peak_mib: float | None = None
    decode_peak_mib: float | None = None
    metrics: dict[str, float | None] = field(default_factory=dict)
    visqol_error: str | None = None


@dataclass
class CodecStatus:
    """How a codec's worker started: versions/backends, start-up time, or why it could not."""

    name: str
    info: dict[str, str] = field(default_factory=dict)
    startup_s: float | None = None
    worker_baseline_mib: float | None = None
    error: str | None = None


@dataclass
class BenchResults:
    """The whole outcome, as written to results.json."""

    config: dict[str, Any]
    environment: dict[str, Any]
    clips: list[dict[str, Any]]
    codecs: list[CodecStatus]
    runs: list[RunRecord]
    warnings: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (non-finite numbers become null)."""
        from neuralcodec.bench.report import summarize

        data = {
            "version": RESULTS_VERSION,
            "config": self.config,
            "environment": self.environment,
            "clips": self.clips,
            "codecs": [asdict(c) for c in self.codecs],
            "runs": [asdict(r) for r in self.runs],
            "summary": summarize(self.runs),
            "warnings": self.warnings,
            "elapsed_s": self.elapsed_s,
        }
        return _json_clean(data)


def _json_clean(value: Any) -> Any:
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if isinstance(value, np.generic):
        return _json_clean(value.item())
    if isinstance(value, dict):
        return {str(k): _json_clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_clean(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


# ------------------------------------------------------------------------------------- inputs


def _readable(path: Path) -> bool:
    try:
        sf.info(str(path))
        return True
    except (sf.LibsndfileError, RuntimeError):
        return False


def discover_inputs(inputs: Sequence[Path]) -> tuple[list[Path], list[str]]:
    """Expand files and folders (recursively) into readable audio files, plus warnings.

    A file named on the command line must be readable (else BenchError); inside folders,
    files with an audio extension that libsndfile cannot read are skipped with a warning.
    """
    found: list[Path] = []
    warnings: list[str] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            candidates = sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix.lower().lstrip(".") in AUDIO_EXTENSIONS
            )
            ok = [p for p in candidates if _readable(p)]
            warnings += [f"skipped unreadable file {p}" for p in candidates if p not in ok]
            if not ok:
                warnings.append(f"no readable audio files in folder {path}")
            found += ok
        elif path.is_file():
            if not _readable(path):
                raise BenchError(f"{path}: not an audio file libsndfile can read")
            found.append(path)
        else:
            raise BenchError(f"{path}: no such file or folder")
    unique: list[Path] = []
    seen: set[Path] = set()
    for p in found:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(p)
    if not unique:
        raise BenchError("no audio files found in the given inputs")
    return unique, warnings


def _clip_id(path: Path, taken: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9_.-]+", "_", path.stem).strip("._") or "clip"
    name, i = base, 2
    while name in taken:
        name, i = f"{base}-{i}", i + 1
    taken.add(name)
    return name


def prepare_clips(paths: Sequence[Path], workdir: Path, seconds: float | None) -> tuple[list[Clip], list[str]]:
    """Read, crop to ``seconds`` (from the start) and write each input as the codecs' WAV input.

    The WAV is 16-bit unless the source has more precision (24/32-bit or float), then 24-bit;
    the reference for every metric is read back from this very file, so all codecs see and
    are compared against identical samples.
    """
    clips: list[Clip] = []
    warnings: list[str] = []
    taken: set[str] = set()
    clip_dir = workdir / "clips"
    clip_dir.mkdir(parents=True, exist_ok=True)
    for path in paths:
        info = sf.info(str(path))
        frames = info.frames if seconds is None else min(info.frames, int(round(seconds * info.samplerate)))
        if frames < MIN_CLIP_SECONDS * info.samplerate:
            warnings.append(f"skipped {path}: shorter than {MIN_CLIP_SECONDS} s")
            continue
        data, sr = sf.read(str(path), frames=frames, dtype="float32", always_2d=True)
        if not np.any(data):
            warnings.append(f"skipped {path}: digital silence")
            continue
        subtype = "PCM_24" if info.subtype in ("PCM_24", "PCM_32", "FLOAT", "DOUBLE") else "PCM_16"
        peak = float(np.max(np.abs(data)))
        if peak > 1.0:
            warnings.append(f"{path}: peak {peak:.2f} > 1.0 clipped for the codecs' WAV input")
        cid = _clip_id(path, taken)
        wav = clip_dir / f"{cid}.wav"
        sf.write(str(wav), np.clip(data, -1.0, 1.0), sr, subtype=subtype)
        clips.append(Clip(cid, str(path), wav, int(sr), int(data.shape[1]), int(data.shape[0])))
    if not clips:
        raise BenchError("none of the inputs is usable audio (see warnings)")
    return clips, warnings


# ------------------------------------------------------------------------------ worker process

_worker_codecs: dict[CodecSpec, Codec] = {}
_worker_baseline_mib: float = 0.0


def _worker_prepare(spec: CodecSpec) -> tuple[dict[str, str], float, float | None]:
    """In the codec worker: build and prepare the codec once.

    Returns its facts, its start-up time and the worker's idle RSS before the codec existed
    (the baseline that memory figures are measured above, see :mod:`.measure`).
    """
    global _worker_baseline_mib
    baseline = current_rss_mib()
    _worker_baseline_mib = baseline or 0.0
    start = time.perf_counter()
    codec = make_codec(spec)
    info = codec.prepare()
    _worker_codecs[spec] = codec
    return info, time.perf_counter() - start, baseline


def _worker_code(spec: CodecSpec, clip_path: str, kbps: float, run_dir: str, target_sr: int) -> dict[str, Any]:
    """In the codec worker: encode + decode one clip; the decoded audio goes to an .npy file."""
    codec = _worker_codecs[spec]
    work = Path(run_dir)
    work.mkdir(parents=True, exist_ok=True)
    with track_step(_worker_baseline_mib) as enc:
        encoded = codec.encode(Path(clip_path), kbps, work)
    if not encoded.is_file():
        raise CodecError(f"{spec.name}: encoder produced no file")
    size = encoded.stat().st_size
    with track_step(_worker_baseline_mib) as dec:
        audio, sr = codec.decode(encoded, work, target_sr=target_sr)
    if sr != target_sr:
        raise CodecError(f"{spec.name}: decoded at {sr} Hz, expected {target_sr} Hz")
    out = work / "decoded.npy"
    np.save(out, np.asarray(audio, dtype=np.float32))
    return {
        "encoded": str(encoded),
        "encoded_bytes": size,
        "decoded": str(out),
        "detail": codec.detail,
        "delay_hint": codec.delay_samples,
        "encode_s": enc.wall_s,
        "decode_s": dec.wall_s,
        "encode_peak_mib": enc.peak_rss_mib,
        "decode_peak_mib": dec.peak_rss_mib,
    }


_worker_scorer: VisqolScorer | None = None


def _visqol_pair(ref_npy: str, deg_npy: str) -> float:
    """In a ViSQOL worker (or in-process): MOS-LQO of two saved 48 kHz mono signals."""
    global _worker_scorer
    if _worker_scorer is None:
        _worker_scorer = VisqolScorer()
    return _worker_scorer.score_48k(np.load(ref_npy), np.load(deg_npy))


# ------------------------------------------------------------------------------------- runner


def _error_text(exc: BaseException) -> str:
    """One line for a failed run: codec errors as they are, anything else with its type."""
    if isinstance(exc, WorkerCrashed):
        return str(exc)
    if isinstance(exc, WorkerError):
        plain = exc.kind in ("CodecError", "CodecUnavailable", "ToolError", "BenchError")
        msg = (str(exc).strip().splitlines() or [""])[0]
        return msg if plain and msg else f"{exc.kind}: {msg}"
    text = str(exc).strip().splitlines()
    msg = text[0] if text else ""
    if isinstance(exc, CodecError | BenchError) and msg:
        return msg
    return f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__


def _environment(visqol: bool) -> dict[str, Any]:
    env: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "numpy": np.__version__,
        "soundfile": sf.__version__,
        "libsndfile": sf.__libsndfile_version__,
        "date_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    if visqol:
        env["visqol_python"] = visqol_version()
        env["visqol_numba"] = visqol_accelerated()
    try:
        here = Path(__file__).resolve().parent
        commit = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, timeout=5, check=False,
        ).stdout.strip()
        if commit:
            env["git_commit"] = commit
    except (OSError, subprocess.TimeoutExpired):
        pass
    return env


def run_bench(
    config: BenchConfig,
    progress: ProgressSink | None = None,
    log: Callable[[str], None] | None = None,
) -> BenchResults:
    """Run the whole comparison and return results (writing nothing but the work folder)."""
    config.validate()
    progress = progress or _NoProgress()
    say = log or (lambda _msg: None)
    t0 = time.perf_counter()
    paths, warnings = discover_inputs(config.inputs)
    config.out_dir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix=".work-", dir=config.out_dir))
    try:
        clips, more = prepare_clips(paths, workdir, config.seconds)
        warnings += more
        for w in warnings:
            say(f"warning: {w}")
        refs = {c.id: read_audio(c.path)[0] for c in clips}
        statuses, runs, pending = _coding_phase(config, clips, refs, workdir, progress)
        if config.visqol:
            _visqol_phase(config, runs, pending, clips, refs, workdir, progress)
        if config.keep_audio:
            _keep_audio(config, runs, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return BenchResults(
        config={
            "inputs": [str(p) for p in config.inputs],
            "bitrates_kbps": config.bitrates,
            "codecs": [c.name for c in config.codecs],
            "externals": [asdict(c.external) for c in config.codecs if c.external is not None],
            "jobs": config.jobs,
            "seconds": config.seconds,
            "visqol": config.visqol,
            "max_delay_s": config.max_delay_s,
        },
        environment=_environment(config.visqol),
        clips=[
            {"id": c.id, "source": c.source, "sample_rate": c.sample_rate, "channels": c.channels,
             "duration_s": c.duration_s}
            for c in clips
        ],
        codecs=statuses,
        runs=runs,
        warnings=warnings,
        elapsed_s=time.perf_counter() - t0,
    )


def _run_dir(workdir: Path, codec: str, clip: Clip, kbps: float) -> Path:
    return workdir / "runs" / codec / f"{clip.id}_{format_kbps(kbps)}k"


_PREPARE = "neuralcodec.bench.runner:_worker_prepare"
_CODE = "neuralcodec.bench.runner:_worker_code"
_VISQOL = "neuralcodec.bench.runner:_visqol_pair"


def _coding_phase(
    config: BenchConfig,
    clips: list[Clip],
    refs: dict[str, np.ndarray],
    workdir: Path,
    progress: ProgressSink,
) -> tuple[list[CodecStatus], list[RunRecord], dict[int, Path]]:
    """Encode/decode everything, codec by codec; returns statuses, records and decoded paths."""
    total = len(clips) * len(config.codecs) * len(config.bitrates)
    progress.begin("coding", total, "starting")
    statuses: list[CodecStatus] = []
    runs: list[RunRecord] = []
    decoded: dict[int, Path] = {}
    for spec in config.codecs:
        status = CodecStatus(spec.name)
        statuses.append(status)
        worker: WorkerProcess | None = None
        try:
            for clip in clips:
                for kbps in config.bitrates:
                    label = f"{spec.name} {format_kbps(kbps)}k {clip.id}"
                    record = RunRecord(clip.id, spec.name, kbps, duration_s=clip.duration_s)
                    runs.append(record)
                    if status.error is not None and status.startup_s is None:
                        record.error = status.error  # the codec could not start: same reason
                        progress.advance("coding", label)
                        continue
                    try:
                        if worker is None:
                            worker = WorkerProcess(workdir / "logs" / f"{spec.name}.log")
                            info, startup, baseline = worker.call(_PREPARE, spec)
                            status.info, status.error = info, None
                            status.worker_baseline_mib = baseline
                            status.startup_s = (status.startup_s or 0.0) + startup
                        out = worker.call(
                            _CODE, spec, str(clip.path), kbps,
                            str(_run_dir(workdir, spec.name, clip, kbps)), clip.sample_rate,
                        )
                        _score_run(record, out, clip, refs[clip.id], config)
                        decoded[len(runs) - 1] = Path(out["decoded"])
                    except Exception as exc:  # one failed run must not stop the bench
                        record.error = _error_text(exc)
                        if isinstance(exc, WorkerCrashed) and worker is not None:
                            worker.close()
                            worker = None  # a fresh worker (prepared again) for the next run
                        if status.startup_s is None:
                            status.error = record.error
                    progress.advance("coding", label)
        finally:
            if worker is not None:
                worker.close()
    return statuses, runs, decoded


def _score_run(record: RunRecord, out: dict[str, Any], clip: Clip, ref: np.ndarray, config: BenchConfig) -> None:
    """Fill a record from a worker's output: real bitrate, speed, alignment and metrics."""
    audio = np.load(out["decoded"])
    if audio.ndim != 2 or audio.shape[1] == 0:
        raise CodecError(f"{record.codec}: decoded no audio")
    if audio.shape[0] != clip.channels:
        if audio.shape[0] == 1:
            audio = np.repeat(audio, clip.channels, axis=0)
        else:
            raise CodecError(f"{record.codec}: decoded {audio.shape[0]} channels, expected {clip.channels}")
    hint = int(out["delay_hint"] or 0)
    aligned, delay = align(ref, audio, int(config.max_delay_s * clip.sample_rate), center=hint)
    np.save(out["decoded"], aligned)
    record.detail = out["detail"]
    record.encoded_bytes = int(out["encoded_bytes"])
    record.real_kbps = record.encoded_bytes * 8.0 / clip.duration_s / 1000.0
    record.delay_samples = delay
    record.encode_s, record.decode_s = out["encode_s"], out["decode_s"]
    record.encode_rtf = clip.duration_s / max(out["encode_s"], 1e-9)
    record.decode_rtf = clip.duration_s / max(out["decode_s"], 1e-9)
    record.encode_peak_mib, record.decode_peak_mib = out["encode_peak_mib"], out["decode_peak_mib"]
    record.metrics = {**compute_metrics(ref, aligned, clip.sample_rate), "visqol": None}
    record.ok = True


def _visqol_phase(
    config: BenchConfig,
    runs: list[RunRecord],
    decoded: dict[int, Path],
    clips: list[Clip],
    refs: dict[str, np.ndarray],
    workdir: Path,
    progress: ProgressSink,
) -> None:
    """Score every successful run with ViSQOL, ``config.jobs`` processes at a time."""
    by_id = {c.id: c for c in clips}
    vdir = workdir / "visqol"
    vdir.mkdir(exist_ok=True)
    ref_files: dict[str, str] = {}
    pairs: list[tuple[int, str, str]] = []
    for idx, path in decoded.items():
        clip = by_id[runs[idx].clip]
        if clip.id not in ref_files:
            ref_files[clip.id] = str(vdir / f"{clip.id}.ref.npy")
            np.save(ref_files[clip.id], visqol_input(refs[clip.id], clip.sample_rate))
        deg_file = str(vdir / f"{idx}.deg.npy")
        np.save(deg_file, visqol_input(np.load(path), clip.sample_rate))
        pairs.append((idx, ref_files[clip.id], deg_file))
    progress.begin("visqol", len(pairs), "ViSQOL")

    def record(idx: int, value: float | None, error: str | None) -> None:
        runs[idx].metrics["visqol"] = value
        runs[idx].visqol_error = error
        progress.advance("visqol", f"{runs[idx].codec} {format_kbps(runs[idx].target_kbps)}k {runs[idx].clip}")

    jobs = min(config.jobs, len(pairs))
    if jobs <= 1:
        for idx, ref_file, deg_file in pairs:
            try:
                record(idx, _visqol_pair(ref_file, deg_file), None)
            except Exception as exc:
                record(idx, None, _error_text(exc))
        return
    todo: queue.Queue[tuple[int, str, str]] = queue.Queue()
    for pair in pairs:
        todo.put(pair)
    lock = threading.Lock()

    def drain(slot: int) -> None:
        worker = WorkerProcess(workdir / "logs" / f"visqol-{slot}.log")
        try:
            while True:
                try:
                    idx, ref_file, deg_file = todo.get_nowait()
                except queue.Empty:
                    return
                value: float | None = None
                error: str | None = None
                try:
                    value = worker.call(_VISQOL, ref_file, deg_file)
                except Exception as exc:
                    error = _error_text(exc)
                    if isinstance(exc, WorkerCrashed):
                        worker.close()
                        worker = WorkerProcess(workdir / "logs" / f"visqol-{slot}.log")
                with lock:
                    record(idx, value, error)
        finally:
            worker.close()

    threads = [threading.Thread(target=drain, args=(k,), daemon=True) for k in range(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def _keep_audio(config: BenchConfig, runs: list[RunRecord], workdir: Path) -> None:
    """Copy encoded files and aligned decoded WAVs to ``out/audio/CODEC/`` for listening."""
    dest_root = config.out_dir / "audio"
    for clip_wav in (workdir / "clips").glob("*.wav"):
        (dest_root / "reference").mkdir(parents=True, exist_ok=True)
        shutil.copy2(clip_wav, dest_root / "reference" / clip_wav.name)
    for run_dir in sorted((workdir / "runs").glob("*/*")):
        codec = run_dir.parent.name
        dest = dest_root / codec
        if not (run_dir / "decoded.npy").is_file():
            continue  # a failed run leaves nothing worth listening to
        dest.mkdir(parents=True, exist_ok=True)
        clip_id = run_dir.name.rsplit("_", 1)[0]
        sr = sf.info(str(workdir / "clips" / f"{clip_id}.wav")).samplerate
        for f in run_dir.iterdir():
            if f.name == "decoded.npy":
                sf.write(str(dest / f"{run_dir.name}.decoded.wav"), np.load(f).T, sr, subtype="FLOAT")
            elif f.suffix.lower() not in (".wav", ".npy"):
                shutil.copy2(f, dest / f"{run_dir.name}{f.suffix}")

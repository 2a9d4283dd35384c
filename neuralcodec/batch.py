"""Coding many files: `muzip encode PATHS... -o OUTDIR`, `muzip decode PATHS... -o OUTDIR`.

A path may be a folder: its audio (or .mzp) files are found recursively and the output tree mirrors
it under OUTDIR (without -o, each output goes beside its input, as flac does). Outputs that are
already up to date (newer than their input) are skipped, so an interrupted run resumes where it
stopped; outputs are written atomically, so an interrupted file leaves nothing behind. One bad file
never stops the others: it is recorded as failed and the run goes on.

With ``jobs > 1`` the files are shared by worker processes (spawned, so no torch state is forked);
each worker loads the model once (the model cache keeps it for the next file) and runs
``threads`` torch threads, by default the free cores divided by the number of jobs
(:mod:`neuralcodec.threads`). ``--engine ray`` runs the same workers as Ray actors, on this machine
or a cluster (:mod:`neuralcodec.engines`). With a results manifest (``--manifest``, always with
Ray) every finished file is recorded as it finishes and a failed file is retried once
(:mod:`neuralcodec.manifest`). No torch or ray import in this module: the parent only schedules.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .errors import MuzipError

# What a folder scan picks up. libsndfile's formats, plus audio formats that need ffmpeg (they fail
# with a clear line when it is missing). Video containers are taken only when named explicitly.
SNDFILE_EXTS = {".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aiff", ".aif", ".aifc", ".au", ".snd",
                ".caf", ".w64", ".rf64"}
FFMPEG_EXTS = {".m4a", ".aac", ".alac", ".wma", ".ape", ".wv", ".mka", ".ac3", ".tta"}
AUDIO_EXTS = SNDFILE_EXTS | FFMPEG_EXTS
MZP_EXTS = {".mzp"}


@dataclass
class Job:
    """One file to code: ``src`` -> ``dst``; ``label`` is how messages name it; ``error`` marks a job
    refused while planning (it is reported as failed, the others still run)."""

    src: Path
    dst: Path
    label: str
    error: str | None = None


@dataclass
class JobResult:
    label: str
    src: str
    dst: str
    status: str  # "done", "skipped" (up to date) or "failed"
    message: str = ""
    duration: float = 0.0  # seconds of audio
    bytes: int = 0  # bytes written
    kbps: float = 0.0  # of the .mzp (encoding: the output, decoding: the input)
    seconds: float = 0.0  # coding time, model load excluded
    load_seconds: float = 0.0
    sha256: str = ""  # of the output, when written
    worker: str = ""  # host:pid that coded it
    attempts: int = 0  # 2 when the first try failed and the file was retried
    extra: dict = field(default_factory=dict)


def _visible(p: Path, root: Path) -> bool:
    return not any(part.startswith(".") for part in p.relative_to(root).parts)


def plan(paths: Iterable[str | os.PathLike[str]], outdir: Path | None, suffix: str, exts: set[str],
         outputs: bool = True) -> list[Job]:
    """Expand PATHS into jobs with mirrored outputs; problems become failed jobs, not exceptions.
    ``outputs`` False (`muzip test`): files are only read, so output collisions do not matter."""
    jobs: list[Job] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found = sorted(f for f in p.rglob("*")
                           if f.is_file() and f.suffix.lower() in exts and _visible(f, p))
            if not found:
                jobs.append(Job(p, p, str(p), f"no {'/'.join(sorted(exts))} files in this folder"))
            for f in found:
                rel = f.relative_to(p)
                dst = (outdir / rel if outdir else f).with_suffix(suffix)
                jobs.append(Job(f, dst, str(f)))
        else:
            dst = (outdir / p.name if outdir else p).with_suffix(suffix)
            err = None if p.exists() else "no such file"
            jobs.append(Job(p, dst, str(p), err))
    seen: dict[Path, str] = {}
    for j in jobs if outputs else []:
        if j.error:
            continue
        key = j.dst.resolve()
        if key in seen:
            j.error = f"would write {j.dst}, which {seen[key]} already writes"
        elif key == j.src.resolve():
            j.error = "output would overwrite the input"
        else:
            seen[key] = j.label
    return jobs


def up_to_date(job: Job) -> bool:
    """The output exists and is at least as new as its input (it was finished after the input)."""
    try:
        return job.dst.stat().st_mtime >= job.src.stat().st_mtime
    except OSError:
        return False


# -- workers -----------------------------------------------------------------------------------------


def _init_worker(threads: int, memory_models: list[tuple[str, dict, dict]]) -> None:
    """Per worker process, once: torch threads, and the caller's in-memory models (tests register
    tiny models in memory; a spawned process would not otherwise know them)."""
    set_threads(threads)
    if memory_models:
        from .models.registry import build_model, register_model

        for model_id, config, state in memory_models:
            net = build_model(config)
            net.load_state_dict(state)
            register_model(model_id, net)


def _memory_models() -> list[tuple[str, dict, dict]]:
    """In-memory models of this process, as (id, config, state_dict) for the workers."""
    reg = sys.modules.get("neuralcodec.models.registry")
    if reg is None:
        return []
    out = []
    for model_id, (_entry, net) in reg._MEMORY.items():
        out.append((model_id, net.config.to_dict(), {k: v.detach().cpu() for k, v in net.state_dict().items()}))
    return out


def set_threads(n: int) -> None:
    """Torch threads for the models coded here. When torch is not loaded yet (the mdct family
    needs none), ``OMP_NUM_THREADS`` tells it at import instead: a worker that never runs torch
    does not pay its import."""
    if "torch" in sys.modules:
        from .threads import apply_threads

        apply_threads(n)
    else:
        os.environ["OMP_NUM_THREADS"] = str(max(1, int(n)))


def run_one(kind: str, src: str, dst: str, options: dict[str, Any], label: str) -> JobResult:
    """Code one file in this process; every failure becomes a failed result, never an exception,
    and the library's warnings (clipping) are kept with the result for the parent to print."""
    from .manifest import worker_id

    res = JobResult(label, src, dst, "failed", worker=worker_id())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _run_one(kind, src, dst, options, res)
    msgs = [str(w.message) for w in caught if issubclass(w.category, UserWarning)
            and w.category.__module__.startswith("neuralcodec")]
    if msgs:
        res.extra["warnings"] = msgs
    return res


def _run_one(kind: str, src: str, dst: str, options: dict[str, Any], res: JobResult) -> None:
    from . import api

    try:
        Path(dst).parent.mkdir(parents=True, exist_ok=True)
        if kind == "encode":
            st = api.encode_file(src, dst, force=True, **options)
            res.duration, res.bytes, res.kbps = st.duration, st.bytes, st.kbps
            res.seconds, res.load_seconds = st.seconds, st.load_seconds
        else:
            d = api.decode_file(src, dst, force=True, **options)
            res.duration, res.seconds, res.load_seconds = d["duration"], d["seconds"], d["load_seconds"]
            res.bytes = Path(dst).stat().st_size
            res.kbps = Path(src).stat().st_size * 8 / max(d["source_duration"], 1e-9) / 1000
            if d.get("clipped"):
                res.extra["clipped"] = d["clipped"]
                res.extra["peak"] = d["peak"]
        from .manifest import sha256_file

        res.sha256 = sha256_file(dst)
        res.status = "done"
    except MuzipError as exc:
        res.message = str(exc)
        for name in (res.src, res.label):  # the summary names the file already
            if res.message.startswith(f"{name}: "):
                res.message = res.message[len(name) + 2:]
                break
    except OSError as exc:
        res.message = f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else "")
    except Exception as exc:  # a bug or a library error on one file must not stop the batch
        res.message = f"{type(exc).__name__}: {exc}".splitlines()[0]


# -- the run -------------------------------------------------------------------------------------------


@dataclass
class Summary:
    results: list[JobResult]
    wall_seconds: float
    jobs: int
    threads: int
    engine: str = "local"
    manifest: str | None = None

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r.status == status)

    @property
    def failed(self) -> list[JobResult]:
        return [r for r in self.results if r.status == "failed"]

    @property
    def audio_seconds(self) -> float:
        return sum(r.duration for r in self.results if r.status == "done")

    @property
    def realtime(self) -> float:
        """Audio seconds coded per wall second over the whole batch, model loads included."""
        return self.audio_seconds / max(self.wall_seconds, 1e-9)

    @property
    def kbps(self) -> float:
        done = [r for r in self.results if r.status == "done"]
        dur = sum(r.duration for r in done)
        return sum(r.kbps * r.duration for r in done) / dur if dur else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"files": [asdict(r) for r in self.results], "done": self.count("done"),
                "skipped": self.count("skipped"), "failed": self.count("failed"),
                "audio_seconds": round(self.audio_seconds, 3), "wall_seconds": round(self.wall_seconds, 3),
                "realtime": round(self.realtime, 2), "kbps": round(self.kbps, 3), "jobs": self.jobs,
                "threads": self.threads, "engine": self.engine, "manifest": self.manifest,
                "retried": sum(1 for r in self.results if r.attempts > 1)}


OnResult = Callable[[JobResult, int, int], None]  # (result, finished so far, total)


def _remove_stale_parts(dst: Path, before: float) -> None:
    """Temp files of ``dst`` left by a killed run (``.NAME.*.part``, older than this run): a killed
    worker leaves no output, and its resumed run leaves no litter either."""
    try:
        for p in dst.parent.glob(f".{glob_escape(dst.name)}.*.part"):
            with contextlib.suppress(OSError):
                if p.stat().st_mtime < before:
                    p.unlink()
    except OSError:
        pass


def glob_escape(name: str) -> str:
    import glob

    return glob.escape(name)


def _manifest_entry(kind: str, job: Job, r: JobResult, status: str, attempt: int) -> dict[str, Any]:
    from .manifest import input_stat

    return {"kind": kind, "path": str(job.src), "output": str(job.dst), "status": status, "sha256": r.sha256,
            "bytes": r.bytes, "seconds": round(r.seconds, 4), "kbps": round(r.kbps, 3),
            "duration": round(r.duration, 4), "attempt": attempt, "worker": r.worker, "message": r.message,
            **input_stat(job.src)}


def run(kind: str, jobs: list[Job], options: dict[str, Any], force: bool = False, workers: int | None = 1,
        threads: int = 1, on_result: OnResult | None = None, *, engine: str = "local", address: str | None = None,
        manifest: str | os.PathLike[str] | None = None, retries: int = 1) -> Summary:
    """Run ``jobs`` (``kind`` "encode" or "decode"); ``options`` go to encode_file/decode_file.

    ``engine`` "local" codes in this process (``workers`` 1) or a process pool, "ray" on Ray actors
    (:mod:`neuralcodec.engines`); ``workers`` None lets the engine choose. With ``manifest`` (a
    JSON-lines path, :mod:`neuralcodec.manifest`) each finished file is recorded as it finishes and
    files recorded as done are skipped. A file that fails while coding is tried ``retries`` more
    times (a worker that died, a flaky disk) before it is reported.
    """
    from .engines import make_engine
    from .manifest import Manifest

    t0 = time.perf_counter()
    wall0 = time.time()
    record = Manifest(manifest) if manifest is not None else None
    results: list[JobResult | None] = [None] * len(jobs)
    todo: list[int] = []
    finished = 0

    def done(i: int, r: JobResult) -> None:
        nonlocal finished
        results[i] = r
        finished += 1
        if on_result:
            on_result(r, finished, len(jobs))

    failed_early: list[tuple[int, JobResult]] = []
    for i, j in enumerate(jobs):
        if j.error:
            failed_early.append((i, JobResult(j.label, str(j.src), str(j.dst), "failed", j.error)))
        elif not force and record is not None and (e := record.done(kind, j.src, j.dst)) is not None:
            done(i, JobResult(j.label, str(j.src), str(j.dst), "skipped", f"done in run {e.get('run', '?')}",
                              sha256=e.get("sha256", "")))
        elif j.dst.exists() and not force:
            if up_to_date(j):
                done(i, JobResult(j.label, str(j.src), str(j.dst), "skipped", "up to date"))
            else:
                failed_early.append((i, JobResult(
                    j.label, str(j.src), str(j.dst), "failed",
                    f"{j.dst} exists and is older than its input (use -f/--force to overwrite)")))
        else:
            todo.append(i)
    n_workers, n_threads, name = workers or 1, threads, engine
    # the engine first: a cluster that cannot be reached is refused before anything is written
    eng = make_engine(engine, kind, options, workers, threads, address) if todo else None
    cancel = True
    try:
        if record is not None:
            record.open()
        for i, r in failed_early:
            if record is not None:
                record.record(_manifest_entry(kind, jobs[i], r, "failed", 0))
            done(i, r)
        if eng is not None:
            n_workers, n_threads, name = eng.workers, eng.threads, eng.name
            attempts = dict.fromkeys(todo, 0)
            queue = list(reversed(todo))  # popped from the end: files go out in plan order
            inflight = 0
            while queue or inflight:
                while queue and inflight < eng.slots:
                    i = queue.pop()
                    attempts[i] += 1
                    if attempts[i] == 1:
                        _remove_stale_parts(jobs[i].dst, wall0)
                    eng.submit(i, jobs[i])
                    inflight += 1
                for i, r in eng.wait():
                    inflight -= 1
                    if r.status == "failed" and attempts[i] <= retries:
                        if record is not None:
                            record.record(_manifest_entry(kind, jobs[i], r, "retry", attempts[i]))
                        queue.append(i)
                        continue
                    r.attempts = attempts[i]
                    if record is not None:
                        record.record(_manifest_entry(kind, jobs[i], r, r.status, attempts[i]))
                    done(i, r)
        cancel = False
    finally:
        try:
            if eng is not None:
                eng.close(cancel=cancel)
        finally:
            if record is not None:
                record.close()
    out = [r for r in results if r is not None]
    return Summary(out, time.perf_counter() - t0, n_workers, n_threads, name,
                   str(record.path) if record is not None else None)

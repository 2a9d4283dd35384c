"""The Ray engine: `muzip encode/decode PATHS... -o OUTDIR --engine ray [--address ADDR]`.

Without an address a new local Ray instance is started on this machine (and stopped at the end);
with one, the run joins that cluster (``auto`` on a node of a cluster started with ``ray start``,
``HOST:6379``, or ``ray://HOST:10001`` through Ray Client). A Ray instance already initialised in
this process (a notebook, a test fixture) is used as it is and left running.

Each worker is a Ray actor holding ``threads`` CPUs (and one GPU with ``--device cuda``; Ray hides
GPUs from actors that do not ask for one, so ``auto`` runs on CPU): it loads the model once (the model cache keeps
it) and codes one file at a time, so at most one file per actor is in flight and an interrupted
run has nothing queued behind its last result. An actor that dies (node lost, out of memory) is
replaced; its file comes back as failed and :func:`neuralcodec.batch.run` retries it once.

Inputs and OUTDIR must be visible under the same paths on every node (a shared file system):
actors read and write files, only job descriptions and results travel through Ray. Outputs are
written by the same code as a local run (temp file + rename), so the bytes are the same and a
killed actor leaves no half output.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from ..batch import Job, JobResult, _init_worker, _memory_models, run_one
from ..errors import MuzipError
from ..threads import usable_cores

INSTALL_HINT = "--engine ray needs Ray, which is not installed: pip install 'muzip[ray]'"


class Coder:
    """One Ray actor: a worker process that keeps its model between files."""

    def __init__(self, threads: int, memory_models: list[tuple[str, dict, dict]]) -> None:
        _init_worker(threads, memory_models)

    def code(self, kind: str, src: str, dst: str, options: dict[str, Any], label: str) -> JobResult:
        return run_one(kind, src, dst, options, label)


def check_reachable(address: str, timeout: float = 5.0) -> None:
    """A HOST:PORT (or ray://HOST:PORT) that accepts no connection is refused at once: Ray itself
    would retry it for minutes. ``auto`` and other forms are left to Ray."""
    import socket

    rest = address.split("://", 1)[1] if "://" in address else address
    host, sep, port = rest.rpartition(":")
    if not sep or not port.isdigit() or not host:
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise MuzipError(f"cannot reach the Ray cluster at {address}: {exc.strerror or exc} "
                         f"(is `ray start --head` running there?)") from None


def start_ray(ray: Any, address: str | None, workers: int | None, threads: int) -> bool:
    """Join ``address`` or start a local instance, unless Ray is already initialised in this
    process; True when this call started it (and the caller must shut it down)."""
    if ray.is_initialized():
        return False
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                              "logging_level": logging.ERROR}
    if address:
        check_reachable(address)
        kwargs["address"] = address
    else:  # a new instance, even where `ray start` left one (that takes --address auto)
        kwargs["address"] = "local"
        kwargs["num_cpus"] = max(usable_cores(), (workers or 1) * threads)  # room for what was asked
    try:
        ray.init(**kwargs)
    except Exception as exc:  # ConnectionError, a bad address, a version mismatch
        where = f"join the Ray cluster at {address}" if address else "start a local Ray instance"
        raise MuzipError(f"cannot {where}: {type(exc).__name__}: {exc}".splitlines()[0]) from None
    return True


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise MuzipError(INSTALL_HINT) from None
    return ray


class RayEngine:
    name = "ray"

    def __init__(self, kind: str, options: dict[str, Any], workers: int | None, threads: int,
                 address: str | None = None) -> None:
        ray = self.ray = import_ray()
        self.kind, self.options, self.threads = kind, options, threads
        self.started = start_ray(ray, address, workers, threads)
        try:
            res = ray.cluster_resources()
            cpus, gpus = int(res.get("CPU", 0)), int(res.get("GPU", 0))
            if cpus < threads:
                raise MuzipError(f"the Ray cluster has {cpus} CPU(s), fewer than --threads {threads}")
            fit = max(1, math.floor(cpus / threads))
            use_gpu = str(options.get("device", "")).startswith("cuda")
            if use_gpu:  # --device cuda: one GPU per actor (Ray hides GPUs from actors that ask for none)
                if gpus < 1:
                    raise MuzipError("--device cuda: the Ray cluster has no GPU")
                fit = min(fit, gpus)
            self.workers = min(workers, fit) if workers else fit
            self.remote = ray.remote(Coder).options(num_cpus=threads, num_gpus=1 if use_gpu else 0, max_restarts=0)
            self.models = _memory_models()
            self.idle = [self._new_actor() for _ in range(self.workers)]
        except BaseException:
            self._shutdown()
            raise
        self.slots = self.workers
        self.inflight: dict[Any, tuple[int, Job, Any]] = {}  # object ref -> (index, job, actor)

    def _new_actor(self) -> Any:
        return self.remote.remote(self.threads, self.models)

    def submit(self, index: int, job: Job) -> None:
        actor = self.idle.pop()
        ref = actor.code.remote(self.kind, str(job.src), str(job.dst), self.options, job.label)
        self.inflight[ref] = (index, job, actor)

    def wait(self) -> list[tuple[int, JobResult]]:
        ray = self.ray
        refs = list(self.inflight)
        ready, rest = ray.wait(refs, num_returns=1)
        if rest:  # whatever else has finished meanwhile
            more, _ = ray.wait(rest, num_returns=len(rest), timeout=0)
            ready += more
        out = []
        for ref in ready:
            i, j, actor = self.inflight.pop(ref)
            try:
                r = ray.get(ref)
            except ray.exceptions.RayError as exc:  # the actor died (node lost, killed, out of memory)
                r = JobResult(j.label, str(j.src), str(j.dst), "failed",
                              f"Ray worker failed: {type(exc).__name__}: {exc}".splitlines()[0])
                ray.kill(actor, no_restart=True)
                actor = self._new_actor()
            self.idle.append(actor)
            out.append((i, r))
        return out

    def close(self, cancel: bool = False) -> None:
        self._shutdown()

    def _shutdown(self) -> None:
        ray = self.ray
        for _, _, actor in getattr(self, "inflight", {}).values():
            ray.kill(actor, no_restart=True)
        for actor in getattr(self, "idle", []):
            ray.kill(actor, no_restart=True)
        self.inflight, self.idle = {}, []
        if self.started:
            ray.shutdown()
            self.started = False

"""The local engines: files coded one after another in this process, or by a spawned process pool."""

from __future__ import annotations

import multiprocessing
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from ..batch import Job, JobResult, _init_worker, _memory_models, run_one, set_threads


class InlineEngine:
    """``--jobs 1``: each file is coded in this process when :meth:`wait` asks for the next result."""

    name = "local"
    workers = 1
    slots = 1

    def __init__(self, kind: str, options: dict[str, Any], threads: int) -> None:
        self.kind, self.options, self.threads = kind, options, threads
        self.queue: deque[tuple[int, Job]] = deque()
        set_threads(threads)

    def submit(self, index: int, job: Job) -> None:
        self.queue.append((index, job))

    def wait(self) -> list[tuple[int, JobResult]]:
        i, j = self.queue.popleft()
        return [(i, run_one(self.kind, str(j.src), str(j.dst), self.options, j.label))]

    def close(self, cancel: bool = False) -> None:
        self.queue.clear()


class PoolEngine:
    """``--jobs N``: N spawned worker processes (no torch state forked); each loads the model once
    (the model cache keeps it for the next file)."""

    name = "local"

    def __init__(self, kind: str, options: dict[str, Any], workers: int, threads: int) -> None:
        self.kind, self.options, self.workers, self.threads = kind, options, workers, threads
        self.slots = 2 * workers  # one queued behind each running file: no worker waits for the parent
        self.models = _memory_models()
        self.pool = self._start()
        self.futures: dict[Future[JobResult], tuple[int, Job]] = {}

    def _start(self) -> ProcessPoolExecutor:
        ctx = multiprocessing.get_context("spawn")
        return ProcessPoolExecutor(max_workers=self.workers, mp_context=ctx, initializer=_init_worker,
                                   initargs=(self.threads, self.models))

    def submit(self, index: int, job: Job) -> None:
        args = (run_one, self.kind, str(job.src), str(job.dst), self.options, job.label)
        try:
            fut = self.pool.submit(*args)
        except BrokenProcessPool:  # a worker died earlier: the retry gets a fresh pool
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.pool = self._start()
            fut = self.pool.submit(*args)
        self.futures[fut] = (index, job)

    def wait(self) -> list[tuple[int, JobResult]]:
        ready, _ = wait(set(self.futures), return_when=FIRST_COMPLETED)
        out = []
        for fut in ready:
            i, j = self.futures.pop(fut)
            try:
                r = fut.result()
            except Exception as exc:  # the worker process died (killed, out of memory)
                r = JobResult(j.label, str(j.src), str(j.dst), "failed",
                              f"worker process failed: {type(exc).__name__}: {exc}".splitlines()[0])
            out.append((i, r))
        return out

    def close(self, cancel: bool = False) -> None:
        if cancel:
            for fut in self.futures:
                fut.cancel()
        self.pool.shutdown(wait=True, cancel_futures=cancel)

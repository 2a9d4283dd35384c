"""A long-lived helper process that runs bench functions on request.

Why not multiprocessing: its "spawn" start re-imports the caller's ``__main__``, which breaks
scripts without an ``if __name__ == "__main__"`` guard, and "fork" is unsafe once threads (the
rich progress refresher, torch) exist. A plain ``python -m neuralcodec.bench.worker`` child
has neither problem, keeps torch and model memory out of the bench process, lets the bench
read the child's own peak memory, and a crash in native code fails one codec, not the bench.

Protocol: the parent writes pickled ``(function, args)`` tuples to the child's stdin; the
child answers each with a pickled ``("ok", value)`` or ``("error", kind, message)``. The
child moves its original stdout to a private descriptor first, so anything a codec prints
goes to the child's stderr (a log file) instead of corrupting the answers.
"""

from __future__ import annotations

import importlib
import os
import pickle
import subprocess
import sys
import traceback
from pathlib import Path
from typing import IO, Any

_ALLOWED_PREFIX = "neuralcodec.bench."
_PACKAGE_ROOT = Path(__file__).resolve().parents[2]


class WorkerError(RuntimeError):
    """The function raised in the worker; ``kind`` is the exception's class name."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class WorkerCrashed(RuntimeError):
    """The worker process died (killed, out of memory, crashed in native code)."""


class WorkerProcess:
    """Parent-side handle: ``call("neuralcodec.bench.runner:fn", *args)`` runs fn in the child."""

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(log_path, "ab")  # noqa: SIM115 - kept open for the child's lifetime
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_PACKAGE_ROOT), env.get("PYTHONPATH", "")) if p)
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "neuralcodec.bench.worker"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log, env=env,
        )

    def call(self, function: str, *args: Any) -> Any:
        """Run ``module:function(*args)`` in the child and return its result."""
        assert self._proc.stdin is not None and self._proc.stdout is not None
        try:
            pickle.dump((function, args), self._proc.stdin, protocol=pickle.HIGHEST_PROTOCOL)
            self._proc.stdin.flush()
            reply = pickle.load(self._proc.stdout)
        except (BrokenPipeError, EOFError, pickle.UnpicklingError, OSError) as exc:
            self._proc.kill()
            self._proc.wait()
            raise WorkerCrashed(self._crash_message()) from exc
        if reply[0] == "ok":
            return reply[1]
        raise WorkerError(reply[1], reply[2])

    def _crash_message(self) -> str:
        code = self._proc.returncode
        how = f"killed by signal {-code}" if code is not None and code < 0 else f"exited with status {code}"
        try:
            tail = [ln for ln in self.log_path.read_text("utf-8", "replace").splitlines() if ln.strip()][-1:]
        except OSError:
            tail = []
        return f"worker process {how}" + (f": {tail[0].strip()}" if tail else "")

    def close(self) -> None:
        """Stop the child (closing its stdin ends its loop) and release the log file."""
        if self._proc.poll() is None:
            try:
                assert self._proc.stdin is not None
                self._proc.stdin.close()
                self._proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self._proc.kill()
                self._proc.wait()
        for stream in (self._proc.stdin, self._proc.stdout):
            if stream is not None and not stream.closed:
                stream.close()
        self._log.close()

    def __enter__(self) -> WorkerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _resolve(function: str) -> Any:
    module, _, name = function.partition(":")
    if not module.startswith(_ALLOWED_PREFIX) or not name:
        raise ValueError(f"refusing to run {function!r}")
    return getattr(importlib.import_module(module), name)


def serve(requests: IO[bytes], replies: IO[bytes]) -> None:
    """Child side: answer requests until stdin closes."""
    while True:
        try:
            function, args = pickle.load(requests)
        except EOFError:
            return
        try:
            reply: tuple[Any, ...] = ("ok", _resolve(function)(*args))
        except Exception as exc:  # reported to the parent, which records the failed run
            traceback.print_exc(file=sys.stderr)
            reply = ("error", type(exc).__name__, str(exc))
        pickle.dump(reply, replies, protocol=pickle.HIGHEST_PROTOCOL)
        replies.flush()


def main() -> None:
    """Entry point of ``python -m neuralcodec.bench.worker``."""
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # stray prints from codecs go to the log, not into the protocol stream
    sys.stdout = sys.stderr
    serve(sys.stdin.buffer, replies)


if __name__ == "__main__":
    main()

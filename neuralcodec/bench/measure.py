"""Wall time and peak memory of one codec step (an encode or a decode).

The memory figure is what the codec itself needs, in MiB:

* in-process codecs (lameenc, the muzip Python API) run in a bench worker process
  (:mod:`neuralcodec.bench.worker`). Before each step the worker resets its kernel RSS
  high-water mark (``echo 5 > /proc/self/clear_refs``, Linux >= 4.0) and reads ``VmHWM``
  from ``/proc/self/status`` afterwards; the figure is that peak minus the worker's idle RSS
  measured before the codec was built (``baseline_mib``: Python, numpy, soundfile and
  whatever ``import neuralcodec`` pulls in). Model weights, torch buffers loaded by the codec
  and activations therefore count; the harness does not.
* command-line codecs (opusenc/opusdec, external templates): the tool's own peak RSS
  (``VmHWM`` of the running tool, sampled every 2 ms by :func:`run_tool`), counted whole.

When both happen in one step the larger figure is kept. tracemalloc is not used because it
cannot see allocations made by C libraries or torch. Without /proc the figure is ``None``
for in-process codecs.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

_child_peaks_kib: list[int] = []


def _read_status_kib(key: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def reset_peak_rss() -> bool:
    """Reset this process's RSS high-water mark; False where the kernel does not allow it."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
        return True
    except OSError:
        return False


def current_rss_mib() -> float | None:
    """This process's resident set size (VmRSS) in MiB, or None without /proc."""
    kib = _read_status_kib("VmRSS")
    return None if kib is None else kib / 1024.0


def peak_rss_mib() -> float | None:
    """This process's RSS high-water mark (VmHWM) in MiB, or None without /proc."""
    kib = _read_status_kib("VmHWM")
    return None if kib is None else kib / 1024.0


@dataclass
class StepUsage:
    """What one step cost: wall seconds and peak RSS in MiB (None when unmeasurable)."""

    wall_s: float = 0.0
    peak_rss_mib: float | None = None
    peak_source: str = "none"


@contextmanager
def track_step(baseline_mib: float = 0.0) -> Iterator[StepUsage]:
    """Measure the wall time and peak memory of the enclosed block (see module docstring)."""
    usage = StepUsage()
    can_reset = reset_peak_rss()
    _child_peaks_kib.clear()
    start = time.perf_counter()
    try:
        yield usage
    finally:
        usage.wall_s = time.perf_counter() - start
        own = peak_rss_mib() if can_reset else None
        own = None if own is None else max(0.0, own - baseline_mib)
        child = max(_child_peaks_kib) / 1024.0 if _child_peaks_kib else None
        candidates = [(v, s) for v, s in ((own, "process"), (child, "tool")) if v is not None]
        if candidates:
            usage.peak_rss_mib, usage.peak_source = max(candidates)
        _child_peaks_kib.clear()


@dataclass
class ToolResult:
    """Outcome of one external command."""

    returncode: int
    stderr: str
    peak_mib: float | None = None
    argv: list[str] = field(default_factory=list)


class ToolError(RuntimeError):
    """An external encoder/decoder failed; the message carries the tail of its stderr."""


def _tool_hwm_kib(pid: int) -> int:
    """A running child's VmHWM in KiB (0 once it has exited or without /proc)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return 0
    return 0


def run_tool(argv: Sequence[str], timeout_s: float = 600.0, check: bool = True) -> ToolResult:
    """Run a command, capturing its output, and record its peak RSS for the enclosing step.

    The peak is the tool's ``VmHWM`` sampled every 2 ms while it runs (a final spike shorter
    than that can be missed). ``ru_maxrss`` from ``wait4`` is not used: Linux carries the
    forking Python process's high-water mark across ``exec`` into it, so every tool would
    look as big as the bench worker. Output goes to a temporary file so a chatty tool cannot
    fill a pipe and block.
    """
    argv = [str(a) for a in argv]
    with tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=err, stderr=err)
        except OSError as exc:
            raise ToolError(f"cannot run {argv[0]!r}: {exc.strerror or exc}") from exc
        deadline = time.monotonic() + timeout_s
        peak_kib = 0
        while True:
            peak_kib = max(peak_kib, _tool_hwm_kib(proc.pid))
            if proc.poll() is not None:
                break
            if time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                raise ToolError(f"{argv[0]} did not finish within {timeout_s:g} s")
            time.sleep(0.002)
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
    if peak_kib:
        _child_peaks_kib.append(peak_kib)
    result = ToolResult(proc.returncode, stderr, peak_kib / 1024.0 if peak_kib else None, argv)
    if check and proc.returncode != 0:
        tail = " | ".join(stderr.strip().splitlines()[-3:]) or "no error output"
        raise ToolError(f"{argv[0]} exited with status {proc.returncode}: {tail}")
    return result

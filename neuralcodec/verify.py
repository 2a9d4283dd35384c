"""Integrity checks: `muzip test FILES...` (like ``flac -t``) and `muzip encode --verify`.

A file passes when its header parses and validates, every packet's CRC matches, the index and
trailer sit where the layout puts them and agree with the packets, and the whole file decodes to
the exact sample count with finite samples. The first problem found is reported with the packet
it is in (``FAIL packet 2: ...``), counting from 0 as every muzip message does.
"""

from __future__ import annotations

import io
import os
import re
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from . import container
from .errors import FormatError, MuzipError

_PACKET = re.compile(r"\bpacket (\d+)\b")


@dataclass
class CheckResult:
    """Outcome for one file: ``ok``, and where it failed (``packet`` None: header/index/other)."""

    name: str
    ok: bool
    packet: int | None = None
    message: str = ""
    packets: int = 0
    duration: float = 0.0

    def line(self) -> str:
        """``name: OK`` or ``name: FAIL packet N: why`` (``FAIL: why`` outside any packet)."""
        if self.ok:
            return f"{self.name}: OK"
        where = f" packet {self.packet}" if self.packet is not None else ""
        return f"{self.name}: FAIL{where}: {self.message}"


def _fail(name: str, exc: Exception, packet: int | None = None) -> CheckResult:
    msg = str(exc)
    if packet is None:
        m = _PACKET.search(msg)
        packet = int(m.group(1)) if m else None
    return CheckResult(name, False, packet, msg)


def _check_layout(f: BinaryIO) -> tuple[container.Header, int]:
    """Header, every packet CRC (read in order, not through the index), then index and trailer.
    Returns the header and the packet count; raises FormatError naming the packet at fault."""
    header, first = container.read_header(f)
    n = header.n_packets
    offsets, off = [], first
    for p in range(n):
        f.seek(off)
        payload = container.read_packet(f, p, off)
        offsets.append(off)
        off += container.PACKET_OVERHEAD + len(payload)
    f.seek(off)
    tail = f.read()
    want = container.index_size(n)
    body_len = 8 + 8 * n
    if len(tail) != want:
        raise FormatError(f"index at byte {off}: {len(tail)} bytes after the last packet, expected {want}")
    body = tail[:body_len]
    (crc,) = struct.unpack("<I", tail[body_len : body_len + 4])
    idx_off, end = struct.unpack("<Q4s", tail[body_len + 4 :])
    if body[:4] != container.INDEX_MAGIC or zlib.crc32(body) != crc or end != container.END_MAGIC:
        raise FormatError(f"index at byte {off} is corrupted (magic or CRC mismatch)")
    if idx_off != off or struct.unpack("<I", body[4:8])[0] != n or list(struct.unpack(f"<{n}Q", body[8:])) != offsets:
        raise FormatError(f"index at byte {off} does not match the packets")
    return header, n


def check_file(source: str | os.PathLike[str] | bytes, name: str | None = None, device: str = "cpu",
              decode: bool = True) -> CheckResult:
    """Check one .mzp (path or bytes); never raises for a bad file, only returns a failed result."""
    label = name or ("<bytes>" if isinstance(source, (bytes, bytearray)) else str(source))
    try:
        if isinstance(source, (bytes, bytearray)):
            f: BinaryIO = io.BytesIO(source)
        else:
            p = Path(source)
            if not p.is_file():
                raise MuzipError("no such file" if not p.exists() else "not a regular file")
            f = open(p, "rb")
        with f:
            header, n = _check_layout(f)
    except (FormatError, MuzipError, OSError) as exc:
        return _fail(label, exc)
    duration = header["samples"] / header["sample_rate"]
    if decode:
        from .api import MzpReader

        try:
            samples = 0
            with MzpReader(source, device=device) as r:
                for block in r.blocks():
                    if not np.isfinite(block).all():
                        raise FormatError(f"decoded audio near sample {samples} is not finite")
                    samples += block.shape[1]
            if samples != header["samples"]:
                raise FormatError(f"decoded {samples} samples, the header says {header['samples']}")
        except FormatError as exc:
            return _fail(label, exc)
        except MuzipError as exc:  # e.g. the model is not installed: cannot say the file is good
            return CheckResult(label, False, None, str(exc), n, duration)
    return CheckResult(label, True, None, "", n, duration)




def write_verified(data: bytes, out: str | os.PathLike[str] | BinaryIO, device: str = "cpu") -> None:
    """Write ``data`` (a whole .mzp) to ``out`` only once it has been read back and checked.

    To a path: written to a temp file beside it, read back and compared byte for byte with what the
    encoder produced, then tested and decoded (:func:`check_file`); only then renamed into place, so
    a failed verification leaves no output. To a stream: the bytes are tested in memory first.
    """
    from .audio import atomic_output

    if not isinstance(out, (str, os.PathLike)):
        res = check_file(data, "output", device)
        if not res.ok:
            raise MuzipError(f"verification failed: {res.line()}")
        out.write(data)
        out.flush()
        return
    with atomic_output(Path(out)) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        back = Path(tmp).read_bytes()
        if back != data:
            diff = next((i for i, (a, b) in enumerate(zip(back, data, strict=False)) if a != b), min(len(back), len(data)))
            raise MuzipError(f"{out}: verification failed: the file read back differs from what was written "
                             f"at byte {diff}")
        res = check_file(tmp, str(out), device)
        if not res.ok:
            raise MuzipError(f"verification failed: {res.line()}")

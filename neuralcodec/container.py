"""The .mzp container: header, CRC-checked packets and a seek index. No torch here.

Layout (all integers little-endian; the byte-level spec is docs/FORMAT.md):

    "MUZP" | major u8 | minor u8 | header_len u32 | header JSON (UTF-8) | header_crc u32
    packet*: payload_len u32 | payload_crc u32 | payload
    "MZIX" | count u32 | offset u64 * count | index_crc u32
    index_offset u64 | "MZPE"

The header JSON holds everything the decoder needs; readers ignore keys they do not know, and
refuse a major version they do not know. The index is optional for readers: a non-seekable
stream is decoded packet by packet, and a damaged index falls back to scanning.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from .errors import FormatError

MAGIC = b"MUZP"
INDEX_MAGIC = b"MZIX"
END_MAGIC = b"MZPE"
MAJOR, MINOR = 1, 0
PACKET_OVERHEAD = 8
TRAILER_SIZE = 12
MAX_HEADER = 1 << 20
MAX_PACKET = 1 << 28

REQUIRED = ("model", "sample_rate", "channels", "samples", "model_sample_rate", "hop", "latent_dim",
            "frames", "chunk_frames", "context_frames", "coding", "step_index", "step_div",
            "side_step_offset", "coder", "ladder")


@dataclass
class Header:
    """Decoded header fields (see REQUIRED); ``extra`` keeps keys this version does not use."""

    fields: dict
    major: int = MAJOR
    minor: int = MINOR
    extra: dict = field(default_factory=dict)

    def __getitem__(self, key: str):  # type: ignore[no-untyped-def]
        return self.fields[key]

    @property
    def n_packets(self) -> int:
        return -(-self.fields["frames"] // self.fields["chunk_frames"])

    def packet_frames(self, p: int) -> int:
        c = self.fields["chunk_frames"]
        return min(c, self.fields["frames"] - p * c)

    def coding_channels(self) -> int:
        return 1 if self.fields["coding"] == "mono" else 2

    def to_bytes(self) -> bytes:
        body = json.dumps(self.fields, sort_keys=True, separators=(",", ":")).encode()
        pre = struct.pack("<BBI", self.major, self.minor, len(body))
        crc = zlib.crc32(pre + body)
        return MAGIC + pre + body + struct.pack("<I", crc)


def _read_exact(f: BinaryIO, n: int, what: str, offset: int) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise FormatError(f"file is truncated: {what} at byte {offset} needs {n} bytes, found {len(data)}")
    return data


def read_header(f: BinaryIO) -> tuple[Header, int]:
    """Parse the header; returns it and the offset of the first packet."""
    magic = f.read(4)
    if len(magic) == 0:
        raise FormatError("file is empty, not an .mzp file")
    if magic != MAGIC:
        raise FormatError("not an .mzp file (bad magic bytes)")
    pre = _read_exact(f, 6, "header", 4)
    major, minor, n = struct.unpack("<BBI", pre)
    if major != MAJOR:
        raise FormatError(f"format version {major}.{minor} is not supported by this muzip "
                          f"(reads {MAJOR}.x); upgrade muzip")
    if n > MAX_HEADER:
        raise FormatError(f"header length {n} is implausible: the file is corrupted at byte 6")
    body = _read_exact(f, n, "header", 10)
    (crc,) = struct.unpack("<I", _read_exact(f, 4, "header checksum", 10 + n))
    if zlib.crc32(pre + body) != crc:
        raise FormatError(f"header is corrupted (CRC mismatch in bytes 4-{10 + n})")
    try:
        fields = json.loads(body)
    except ValueError:
        raise FormatError("header is corrupted (invalid JSON)") from None
    missing = [k for k in REQUIRED if k not in fields]
    if missing:
        raise FormatError(f"header lacks required field(s): {', '.join(missing)}")
    extra = {k: v for k, v in fields.items() if k not in REQUIRED}
    return Header(fields, major, minor, extra), 14 + n


def write_packet(f: BinaryIO, payload: bytes) -> int:
    """Append one packet; returns the bytes written."""
    f.write(struct.pack("<II", len(payload), zlib.crc32(payload)))
    f.write(payload)
    return PACKET_OVERHEAD + len(payload)


def write_index(f: BinaryIO, offsets: list[int], index_offset: int) -> None:
    body = INDEX_MAGIC + struct.pack("<I", len(offsets)) + struct.pack(f"<{len(offsets)}Q", *offsets)
    f.write(body + struct.pack("<I", zlib.crc32(body)))
    f.write(struct.pack("<Q", index_offset) + END_MAGIC)


def write_file(f: BinaryIO, header: Header, payloads: list[bytes]) -> int:
    """Write a whole .mzp (header, packets, index) to ``f``; returns the bytes written."""
    head = header.to_bytes()
    f.write(head)
    offsets, pos = [], len(head)
    for payload in payloads:
        offsets.append(pos)
        pos += write_packet(f, payload)
    write_index(f, offsets, pos)
    return pos + index_size(len(offsets))


def index_size(n_packets: int) -> int:
    return 8 + 8 * n_packets + 4 + TRAILER_SIZE


def read_packet(f: BinaryIO, p: int, offset: int) -> bytes:
    """Read packet ``p`` at ``offset`` and verify its CRC."""
    head = f.read(PACKET_OVERHEAD)
    if len(head) != PACKET_OVERHEAD:
        raise FormatError(f"file is truncated: packet {p} at byte {offset} is missing")
    n, crc = struct.unpack("<II", head)
    if n > MAX_PACKET:
        raise FormatError(f"packet {p} at byte {offset} is corrupted (length field {n})")
    payload = f.read(n)
    if len(payload) != n:
        raise FormatError(f"file is truncated: packet {p} at byte {offset} has {len(payload)} of {n} bytes")
    if zlib.crc32(payload) != crc:
        raise FormatError(f"packet {p} at byte {offset} is corrupted (CRC mismatch)")
    return payload


def iter_packets(f: BinaryIO, header: Header, first_offset: int) -> Iterator[tuple[int, bytes]]:
    """Sequential packets from a (possibly non-seekable) stream positioned after the header."""
    off = first_offset
    for p in range(header.n_packets):
        payload = read_packet(f, p, off)
        yield p, payload
        off += PACKET_OVERHEAD + len(payload)


def read_index(f: BinaryIO, header: Header, first_offset: int) -> list[int]:
    """Packet offsets from the index; scans the packet lengths if the index is damaged."""
    n = header.n_packets
    try:
        f.seek(-TRAILER_SIZE, 2)
        idx_off, end = struct.unpack("<Q4s", f.read(TRAILER_SIZE))
        if end != END_MAGIC:
            raise ValueError
        f.seek(idx_off)
        body = f.read(8 + 8 * n)
        (crc,) = struct.unpack("<I", f.read(4))
        if body[:4] != INDEX_MAGIC or zlib.crc32(body) != crc or struct.unpack("<I", body[4:8])[0] != n:
            raise ValueError
        return list(struct.unpack(f"<{n}Q", body[8:]))
    except (ValueError, struct.error, OSError):
        return _scan_offsets(f, n, first_offset)


def _scan_offsets(f: BinaryIO, n: int, first_offset: int) -> list[int]:
    offsets, off = [], first_offset
    for p in range(n):
        f.seek(off)
        head = f.read(PACKET_OVERHEAD)
        if len(head) != PACKET_OVERHEAD:
            raise FormatError(f"file is truncated: packet {p} at byte {off} is missing")
        offsets.append(off)
        off += PACKET_OVERHEAD + struct.unpack("<I", head[:4])[0]
    return offsets

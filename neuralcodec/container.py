"""The .mzp container: header, CRC-checked packets and a seek index. No torch here.

Layout (all integers little-endian; the byte-level spec is docs/FORMAT.md):

    "MUZP" | major u8 | minor u8 | header_len u32 | header JSON (UTF-8) | header_crc u32
    packet*: payload_len u32 | payload_crc u32 | payload
    "MZIX" | count u32 | offset u64 * count | index_crc u32
    index_offset u64 | "MZPE"

The header JSON holds everything the decoder needs; readers ignore keys they do not know, and
refuse a major version they do not know. Every field is validated (:mod:`neuralcodec.header`) and
the packet count is checked against the file's real size before anything is allocated. The index
is optional for readers: a non-seekable stream is decoded packet by packet, and a damaged index
(or an index offset that does not sit exactly where the file size puts it) falls back to scanning.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from . import header as hdr
from .errors import FormatError
from .transform import family as _transform_family  # noqa: F401  (registers the "mdct" header checks)

MAGIC = b"MUZP"
INDEX_MAGIC = b"MZIX"
END_MAGIC = b"MZPE"
MAJOR, MINOR = 1, 0  # what the autoencoder families write
MAJORS = (1, 2)  # what this reader reads: 2.x carries the transform family (neuralcodec.transform)
PACKET_OVERHEAD = 8
TRAILER_SIZE = 12
MAX_HEADER = 1 << 20
MAX_PACKET = 1 << 24  # 16 MiB: far above any chunk's payload at any bitrate muzip writes

# the required keys of the autoencoder families (each family's list: header.required_keys)
REQUIRED = hdr.required_keys(hdr.family("freq"))


@dataclass
class Header:
    """Decoded header fields (see REQUIRED); ``extra`` keeps keys this version does not use."""

    fields: dict
    major: int = MAJOR
    minor: int = MINOR
    extra: dict = field(default_factory=dict)
    size: int | None = None  # the whole file's size in bytes when known (None: a stream)

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


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a valid number")


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise ValueError("duplicate key")
    return out


def parse_json(body: bytes) -> object:
    """Strict JSON: UTF-8, no NaN/Infinity, no duplicate keys; any failure is a FormatError."""
    try:
        return json.loads(body.decode("utf-8"), parse_constant=_reject_constant, object_pairs_hook=_no_duplicates)
    except (ValueError, RecursionError, UnicodeDecodeError) as exc:
        # ValueError covers JSONDecodeError and integers past Python's digit limit
        why = "nested too deeply" if isinstance(exc, RecursionError) else "invalid JSON"
        raise FormatError(f"header is corrupted ({why})") from None


def stream_size(f: BinaryIO) -> int | None:
    """Bytes in a seekable ``f`` (its position is kept); None for a pipe."""
    try:
        if not f.seekable():
            return None
        pos = f.tell()
        end = f.seek(0, 2)
        f.seek(pos)
        return int(end)
    except (AttributeError, OSError, ValueError):
        return None


def read_header(f: BinaryIO, size: int | None = None) -> tuple[Header, int]:
    """Parse and validate the header; returns it and the offset of the first packet.

    ``size`` is the file's size (found by seeking when not given and ``f`` is seekable). Every field
    is checked by :func:`neuralcodec.header.validate`, and the packet count against ``size``, so a
    header cannot make a reader allocate or loop in proportion to a number it merely claims.
    """
    if size is None:
        size = stream_size(f)
    magic = f.read(4)
    if len(magic) == 0:
        raise FormatError("file is empty, not an .mzp file")
    if magic != MAGIC:
        raise FormatError("not an .mzp file (bad magic bytes)")
    pre = _read_exact(f, 6, "header", 4)
    major, minor, n = struct.unpack("<BBI", pre)
    if major not in MAJORS:
        raise FormatError(f"format version {major}.{minor} is not supported by this muzip "
                          f"(reads {', '.join(f'{v}.x' for v in MAJORS)}); upgrade muzip")
    if n > MAX_HEADER:
        raise FormatError(f"header length {n} is implausible: the file is corrupted at byte 6")
    if size is not None and 14 + n > size:
        raise FormatError(f"file is truncated: header at byte 10 needs {n + 4} bytes, found {max(0, size - 10)}")
    body = _read_exact(f, n, "header", 10)
    (crc,) = struct.unpack("<I", _read_exact(f, 4, "header checksum", 10 + n))
    if zlib.crc32(pre + body) != crc:
        raise FormatError(f"header is corrupted (CRC mismatch in bytes 4-{10 + n})")
    values = parse_json(body)
    fam = hdr.validate(values, major)
    assert isinstance(values, dict)
    header = Header(values, major, minor, {k: v for k, v in values.items() if k not in hdr.required_keys(fam)},
                    size)
    first = 14 + n
    if size is not None:
        # every packet costs at least its 8-byte framing, and the index 8 more per packet
        need = first + header.n_packets * PACKET_OVERHEAD + index_size(header.n_packets)
        if size < need:
            raise FormatError(f"file is truncated or its header is corrupted: {header.n_packets} packets need at "
                              f"least {need} bytes, the file has {size}")
    return header, first


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
    """Packet offsets from the index; scans the packet lengths if the index is damaged.

    The trailer's index offset carries no CRC of its own, so it is trusted only where the layout
    puts it: exactly ``index_size(n)`` bytes before the end of the file. The offsets it leads to
    are CRC-checked and must rise from the first packet to the index, 8 bytes apart at least.
    """
    n = header.n_packets
    size = header.size if header.size is not None else stream_size(f)
    if size is None:
        raise FormatError("cannot seek in this stream to read the index")
    idx_off = size - index_size(n) + TRAILER_SIZE
    try:
        f.seek(size - TRAILER_SIZE)
        claimed, end = struct.unpack("<Q4s", _read_exact(f, TRAILER_SIZE, "trailer", size - TRAILER_SIZE))
        if end != END_MAGIC or claimed != idx_off or idx_off < first_offset + n * PACKET_OVERHEAD:
            raise ValueError
        f.seek(idx_off)
        body = _read_exact(f, 8 + 8 * n + 4, "index", idx_off)
        (crc,) = struct.unpack("<I", body[-4:])
        body = body[:-4]
        if body[:4] != INDEX_MAGIC or zlib.crc32(body) != crc or struct.unpack("<I", body[4:8])[0] != n:
            raise ValueError
        offsets = list(struct.unpack(f"<{n}Q", body[8:]))
        bounds = [*offsets, idx_off]
        if offsets[0] != first_offset or any(b - a < PACKET_OVERHEAD for a, b in zip(bounds[:-1], bounds[1:], strict=True)):
            raise ValueError
        return offsets
    except (ValueError, struct.error, OSError, FormatError):
        return _scan_offsets(f, n, first_offset, size - TRAILER_SIZE)


def _scan_offsets(f: BinaryIO, n: int, first_offset: int, end: int) -> list[int]:
    """Offsets found by walking the length fields; every packet must end before ``end``."""
    offsets, off = [], first_offset
    for p in range(n):
        f.seek(off)
        head = f.read(PACKET_OVERHEAD)
        if len(head) != PACKET_OVERHEAD or off + PACKET_OVERHEAD > end:
            raise FormatError(f"file is truncated: packet {p} at byte {off} is missing")
        offsets.append(off)
        length = struct.unpack("<I", head[:4])[0]
        if length > MAX_PACKET or off + PACKET_OVERHEAD + length > end:
            raise FormatError(f"file is truncated or corrupted: packet {p} at byte {off} claims {length} bytes, "
                              f"{max(0, end - off - PACKET_OVERHEAD)} remain")
        off += PACKET_OVERHEAD + length
    return offsets

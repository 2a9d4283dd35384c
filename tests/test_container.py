"""The .mzp container: header round trip, CRCs, truncation, versions, index fallback."""

from __future__ import annotations

import io
import struct

import pytest

from neuralcodec import container
from neuralcodec.errors import FormatError


def _fields(frames: int = 10, chunk: int = 4) -> dict:
    return {"model": {"id": "m", "sha256": "ab" * 8, "family": "freq"}, "sample_rate": 44100, "channels": 2,
            "samples": frames * 1024, "model_sample_rate": 44100, "model_samples": frames * 1024, "hop": 1024, "latent_dim": 8, "frames": frames,
            "chunk_frames": chunk, "context_frames": 2, "coding": "ms", "step_index": -3, "step_div": 16,
            "side_step_offset": 8, "coder": "zstd-v1", "ladder": {"count": 64, "center": 32, "per_octave": 4}}


def _file(payloads: list[bytes], fields: dict | None = None) -> bytes:
    buf = io.BytesIO()
    n = container.write_file(buf, container.Header(fields or _fields()), payloads)
    assert n == len(buf.getvalue())
    return buf.getvalue()


def test_header_round_trip_keeps_unknown_fields() -> None:
    fields = dict(_fields(), future_option={"x": 1})
    h, first = container.read_header(io.BytesIO(_file([b"p"] * 3, fields)))
    assert h.fields == fields
    assert h.extra == {"future_option": {"x": 1}}
    assert first == len(container.Header(fields).to_bytes())  # packets start right after the header CRC


def test_packets_and_index() -> None:
    payloads = [b"a" * 5, b"bb" * 7, b"c"]
    data = _file(payloads)
    f = io.BytesIO(data)
    h, first = container.read_header(f)
    assert h.n_packets == 3 and [h.packet_frames(p) for p in range(3)] == [4, 4, 2]
    offsets = container.read_index(f, h, first)
    for p, off in enumerate(offsets):
        f.seek(off)
        assert container.read_packet(f, p, off) == payloads[p]
    f.seek(first)
    assert [pl for _, pl in container.iter_packets(f, h, first)] == payloads


def test_damaged_index_falls_back_to_scan() -> None:
    data = bytearray(_file([b"x" * 3, b"y" * 4, b"z"]))
    data[-20] ^= 0xFF  # inside the index
    f = io.BytesIO(bytes(data))
    h, first = container.read_header(f)
    offs = container.read_index(f, h, first)
    f.seek(offs[2])
    assert container.read_packet(f, 2, offs[2]) == b"z"


def test_flipped_payload_byte_names_packet_and_offset() -> None:
    data = bytearray(_file([b"x" * 30, b"y" * 30, b"z" * 30]))
    f = io.BytesIO(bytes(data))
    h, first = container.read_header(f)
    offs = container.read_index(f, h, first)
    data[offs[1] + 12] ^= 0x01
    f = io.BytesIO(bytes(data))
    f.seek(offs[1])
    with pytest.raises(FormatError, match=rf"packet 1 at byte {offs[1]} is corrupted"):
        container.read_packet(f, 1, offs[1])


def test_truncated_and_bad_headers() -> None:
    data = _file([b"x" * 30])
    with pytest.raises(FormatError, match="truncated"):
        container.read_header(io.BytesIO(data[:12]))
    with pytest.raises(FormatError, match="not an .mzp"):
        container.read_header(io.BytesIO(b"RIFF0000WAVE"))
    with pytest.raises(FormatError, match="empty"):
        container.read_header(io.BytesIO(b""))
    bad = bytearray(data)
    bad[20] ^= 0x40
    with pytest.raises(FormatError, match="header is corrupted"):
        container.read_header(io.BytesIO(bytes(bad)))
    with pytest.raises(FormatError, match="truncated or its header is corrupted: 3 packets need at least"):
        container.read_header(io.BytesIO(data[: len(data) - 40]))  # the size is known: refused at once

    class Pipe(io.BytesIO):  # a stream without a size: found while reading the packets
        def seekable(self) -> bool:
            return False

    f = Pipe(data[: len(data) - 40])
    h, first = container.read_header(f)
    with pytest.raises(FormatError, match="truncated: packet 0"):
        list(container.iter_packets(f, h, first))


def test_unknown_major_version_refused() -> None:
    data = bytearray(_file([b"x"]))
    data[4] = 9
    with pytest.raises(FormatError, match="version 9.0 is not supported"):
        container.read_header(io.BytesIO(bytes(data)))


def test_missing_required_field() -> None:
    fields = _fields()
    del fields["coder"]
    body = container.Header(fields).to_bytes()
    with pytest.raises(FormatError, match="coder"):
        container.read_header(io.BytesIO(body))


def test_layout_matches_spec() -> None:
    data = _file([b"abc"])
    assert data[:4] == b"MUZP" and data[4:6] == bytes([1, 0])
    (n,) = struct.unpack("<I", data[6:10])
    assert data[-4:] == b"MZPE"
    (idx,) = struct.unpack("<Q", data[-12:-4])
    assert data[idx : idx + 4] == b"MZIX"
    assert data[14 + n : 14 + n + 8] == struct.pack("<II", 3, __import__("zlib").crc32(b"abc"))

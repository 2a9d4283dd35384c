"""Property tests (hypothesis, derandomized: the same examples every run, a few seconds in all).

Round trips of the container and the entropy coders, and the decoder's contract: any byte string,
and any mutation of a valid file that keeps every CRC valid, is either decoded or refused with a
MuzipError (FormatError), never another exception.
"""

from __future__ import annotations

import io
import json
import struct
import zlib

import numpy as np
import pytest
from conftest import TINY_FREQ, music_like
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import neuralcodec as nc
from neuralcodec import container
from neuralcodec.entropy import (
    RANGE_CODER,
    ZSTD_CODER,
    Ladder,
    decode_packet,
    default_indices,
    encode_packet,
)
from neuralcodec.errors import MuzipError

FAST = settings(derandomize=True, max_examples=120, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _fields(frames: int, chunk: int, channels: int, coder: str) -> dict:
    return {"model": {"id": TINY_FREQ, "sha256": "ab" * 8, "family": "freq"}, "sample_rate": 44100,
            "channels": channels, "samples": frames * 1024, "model_sample_rate": 44100, "model_samples": frames * 1024,
            "hop": 1024, "latent_dim": 16, "frames": frames, "chunk_frames": chunk, "context_frames": 8,
            "coding": "mono" if channels == 1 else "ms", "step_index": -3, "step_div": 16,
            "side_step_offset": 0 if channels == 1 else 8, "coder": coder, "ladder": Ladder().to_dict()}


@FAST
@given(frames=st.integers(1, 40), chunk=st.integers(1, 16), channels=st.sampled_from([1, 2]),
       data=st.data())
def test_container_round_trip(frames: int, chunk: int, channels: int, data: st.DataObject) -> None:
    n = -(-frames // chunk)
    payloads = data.draw(st.lists(st.binary(max_size=64), min_size=n, max_size=n))
    extra = data.draw(st.dictionaries(st.text("xyz_", min_size=1, max_size=5), st.integers(-5, 5), max_size=3))
    fields = {**_fields(frames, chunk, channels, ZSTD_CODER), **{f"x_{k}": v for k, v in extra.items()}}
    buf = io.BytesIO()
    container.write_file(buf, container.Header(fields), payloads)
    f = io.BytesIO(buf.getvalue())
    h, first = container.read_header(f)
    assert h.fields == fields and h.n_packets == n
    offsets = container.read_index(f, h, first)
    got = []
    for p, off in enumerate(offsets):
        f.seek(off)
        got.append(container.read_packet(f, p, off))
    assert got == payloads


@FAST
@given(coder=st.sampled_from([RANGE_CODER, ZSTD_CODER]), channels=st.sampled_from([1, 2]),
       frames=st.integers(1, 12), scale=st.floats(0.0, 300.0), seed=st.integers(0, 2**16),
       k=st.integers(-40, 40))
def test_entropy_round_trip(coder: str, channels: int, frames: int, scale: float, seed: int, k: int) -> None:
    rng = np.random.default_rng(seed)
    q = np.round(rng.laplace(0, scale + 1e-9, size=(channels, 16, frames))).astype(np.int64)
    q[:, rng.random(16) < 0.4] = 0
    q = np.clip(q, -32767, 32767)
    prior = (np.arange(16) % 48) - 40
    defaults = np.stack([default_indices(prior, k + o, 16, Ladder()) for o in (0, 8)[:channels]])
    payload = encode_packet(q, defaults, coder, Ladder())
    np.testing.assert_array_equal(decode_packet(payload, q.shape, defaults, coder, Ladder()), q)


@pytest.fixture(scope="module")
def valid() -> bytes:
    return nc.encode(music_like(0.4, 44100, 2), 44100, "16k", model=TINY_FREQ, device="cpu")


def _fix_crcs(b: bytearray) -> bytes:
    """Recompute header, packet and index CRCs where the layout can be followed."""
    if len(b) < 14 or b[:4] != b"MUZP":
        return bytes(b)
    (n,) = struct.unpack_from("<I", b, 6)
    off = 10 + n
    if off + 4 > len(b):
        return bytes(b)
    struct.pack_into("<I", b, off, zlib.crc32(bytes(b[4:off])))
    off += 4
    while off + 8 <= len(b) and b[off : off + 4] != b"MZIX":
        (length,) = struct.unpack_from("<I", b, off)
        if off + 8 + length > len(b):
            break
        struct.pack_into("<I", b, off + 4, zlib.crc32(bytes(b[off + 8 : off + 8 + length])))
        off += 8 + length
    if b[off : off + 4] == b"MZIX" and off + 8 <= len(b):
        (count,) = struct.unpack_from("<I", b, off + 4)
        end = off + 8 + 8 * count
        if end + 4 <= len(b):
            struct.pack_into("<I", b, end, zlib.crc32(bytes(b[off:end])))
    return bytes(b)


def _decoded_or_refused(data: bytes) -> None:
    try:
        audio, rate = nc.decode(data, device="cpu")
    except MuzipError:
        return
    assert audio.ndim == 2 and np.isfinite(audio).all() and 8000 <= rate <= 192000


@settings(derandomize=True, max_examples=60, deadline=None, database=None)
@given(st.binary(max_size=2048))
def test_any_bytes_decode_or_format_error(data: bytes) -> None:
    _decoded_or_refused(data)
    _decoded_or_refused(b"MUZP\x01\x00" + data)


@settings(derandomize=True, max_examples=80, deadline=None, database=None)
@given(st.data())
def test_mutated_file_with_valid_crcs_decodes_or_is_refused(valid: bytes, data: st.DataObject) -> None:
    b = bytearray(valid)
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(b) - 1))
        b[i] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        cut = data.draw(st.integers(0, len(b)))
        b = b[:cut]
    _decoded_or_refused(_fix_crcs(b))


JSON = st.recursive(st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False)
                    | st.text(max_size=8), lambda kids: st.lists(kids, max_size=3)
                    | st.dictionaries(st.text(max_size=4), kids, max_size=3), max_leaves=6)


@settings(derandomize=True, max_examples=150, deadline=None, database=None)
@given(st.data())
def test_header_field_mutations_decode_or_are_refused(valid: bytes, data: st.DataObject) -> None:
    f = io.BytesIO(valid)
    h, first = container.read_header(f)
    fields = json.loads(json.dumps(h.fields))
    key = data.draw(st.sampled_from(sorted(fields)))
    if data.draw(st.booleans()) and isinstance(fields[key], dict) and fields[key]:
        sub = data.draw(st.sampled_from(sorted(fields[key])))
        fields[key][sub] = data.draw(JSON)
    else:
        fields[key] = data.draw(JSON)
    body = json.dumps(fields).encode()
    pre = struct.pack("<BBI", 1, 0, len(body))
    head = b"MUZP" + pre + body + struct.pack("<I", zlib.crc32(pre + body))
    _decoded_or_refused(_fix_crcs(bytearray(head + valid[first:])))

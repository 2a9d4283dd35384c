"""Issue 12, the decoder side: crafted files that pass every CRC but lie, and what muzip does with them.

Every crafted file must be refused with one line `muzip: error: ...` and exit status 1, in bounded
time and memory (numpy allocations are traced), leaving no output and no temp file.
"""

from __future__ import annotations

import copy
import io
import json
import struct
import time
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY_FREQ, music_like, run_cli

import neuralcodec as nc
from neuralcodec import container
from neuralcodec import header as H
from neuralcodec.errors import FormatError, MuzipError, decoding, is_panic
from neuralcodec.models import registry

MAX_PEAK_BYTES = 64 << 20  # a refused file may not make the reader allocate more than this


@pytest.fixture(scope="module")
def base() -> bytes:
    return nc.encode(music_like(1.0, 44100, 2), 44100, "16k", model=TINY_FREQ, device="cpu")


def _parts(data: bytes) -> tuple[container.Header, list[bytes]]:
    f = io.BytesIO(data)
    h, first = container.read_header(f)
    offs = container.read_index(f, h, first)
    payloads = []
    for p, off in enumerate(offs):
        f.seek(off)
        payloads.append(container.read_packet(f, p, off))
    return h, payloads


def _raw_header(body: bytes, major: int = 1, minor: int = 0) -> bytes:
    pre = struct.pack("<BBI", major, minor, len(body))
    return container.MAGIC + pre + body + struct.pack("<I", zlib.crc32(pre + body))


def craft(data: bytes, change: dict | None = None, drop: str | None = None, body: bytes | None = None,
          payloads: list[bytes] | None = None) -> bytes:
    """``data`` with its header changed (dotted keys reach into objects), every CRC valid."""
    h, pl = _parts(data)
    fields = copy.deepcopy(h.fields)
    for key, value in (change or {}).items():
        *path, last = key.split(".")
        d = fields
        for k in path:
            d = d[k]
        d[last] = value
    if drop:
        del fields[drop]
    head = _raw_header(body if body is not None else json.dumps(fields).encode())
    buf = io.BytesIO()
    buf.write(head)
    offsets, pos = [], len(head)
    for payload in (pl if payloads is None else payloads):
        offsets.append(pos)
        pos += container.write_packet(buf, payload)
    container.write_index(buf, offsets, pos)
    return buf.getvalue()


def _call(args: list[str]) -> tuple[int, str]:
    """Exit code and stderr of ``muzip ARGS`` run in-process (conftest.run_cli)."""
    code, _out, err = run_cli(args)
    return code, err


def _refused_by_cli(tmp_path: Path, data: bytes, needle: str = "") -> str:
    src = tmp_path / "crafted.mzp"
    src.write_bytes(data)
    out = tmp_path / "out.wav"
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        code, msg = _call(["decode", str(src), "-o", str(out), "-q"])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    lines = [ln for ln in msg.splitlines() if ln.strip()]
    assert code == 1 and len(lines) == 1 and lines[0].startswith("muzip: error:"), msg
    assert needle in lines[0], msg
    assert "\x1b" not in msg and "Traceback" not in msg
    assert time.perf_counter() - t0 < 20
    assert peak < MAX_PEAK_BYTES, f"{peak / 2**20:.0f} MiB traced while refusing"
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == ["crafted.mzp"]
    return lines[0]


# -- the cases from the issue ----------------------------------------------------------------------

@pytest.mark.parametrize("change,needle", [
    ({"samples": 2**40}, "samples"),  # would allocate 8 TiB
    ({"frames": 2**40}, "'frames'"),  # would read a 32 GiB index
    ({"ladder.count": 10**9}, "ladder.count"),  # 7.5 GiB in `muzip info`
    ({"model_sample_rate": 1e308}, "model_sample_rate"),  # hung in the resampler
    ({"model_sample_rate": 10**9}, "model_sample_rate"),
    ({"sample_rate": 1e308}, "sample_rate"),  # segfault through neuralcodec.decode
    ({"sample_rate": 4000}, "sample_rate"),
    ({"channels": 3}, "channels"),
    ({"channels": 0}, "channels"),
    ({"chunk_frames": 0}, "chunk_frames"),
    ({"step_div": 0}, "step_div"),
    ({"hop": 0}, "hop"),
    ({"ladder.count": 2}, "ladder.count"),  # the range coder would panic
    ({"ladder.center": 64}, "ladder.center"),
    ({"coding": "surround"}, "coding"),
    ({"coding": "mono"}, "coding"),  # stereo file claiming mono coding
    ({"coder": "lzma-v9"}, "coder"),
    ({"model.sha256": ""}, "sha256"),  # an empty prefix used to match any weights
    ({"model.family": "mp3"}, "unknown codec family"),
    ({"model.id": "\x1b[2J\x1b[31mboom"}, "model.id"),  # escape bytes must not reach the terminal
    ({"hop": 512}, "disagree"),  # frames no longer follow from model_samples
    ({"latent_dim": 17}, "latent_dim"),  # not the model it names
    ({"context_frames": 3}, "context_frames"),
    ({"step_index": 1000}, "step_index"),
])
def test_lying_header_is_refused(base: bytes, tmp_path: Path, change: dict, needle: str) -> None:
    line = _refused_by_cli(tmp_path, craft(base, change), needle)
    if "model.id" in change:
        assert "\\x1b" in line  # shown escaped


def test_four_kilobyte_file_claiming_1e8_samples(base: bytes, tmp_path: Path) -> None:
    """Counts consistent with each other but not with the bytes: refused before decoding."""
    n = 10**8
    frames = -(-n // 1024)
    data = craft(base, {"samples": n, "model_samples": n, "frames": frames})
    assert len(data) < 8192
    _refused_by_cli(tmp_path, data, "packets need at least")
    with pytest.raises(FormatError, match="packets need at least"):
        nc.decode(data, device="cpu")


@pytest.mark.parametrize("value", ["44100", True, None, 44100.0, [44100], {"hz": 44100}, -1, 2**64])
def test_wrong_types_and_ranges(base: bytes, tmp_path: Path, value: object) -> None:
    _refused_by_cli(tmp_path, craft(base, {"sample_rate": value}), "sample_rate")


@pytest.mark.parametrize("key", container.REQUIRED)
def test_every_missing_key_is_named(base: bytes, key: str) -> None:
    with pytest.raises(FormatError, match=f"lacks required field.*{key}"):
        nc.decode(craft(base, drop=key), device="cpu")


@pytest.mark.parametrize("body,needle", [
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    (b'{"a": NaN}', "invalid JSON"),
    (b'{"a": Infinity}', "invalid JSON"),
    (b'{"a": 1, "a": 2}', "invalid JSON"),
    (b"\xff\xfe{}", "invalid JSON"),
    (b'{"x": ' + b"9" * 5000 + b"}", "invalid JSON"),
    (b"[1, 2, 3]", "not a JSON object"),
    (b'"MUZP"', "not a JSON object"),
])
def test_malformed_json(base: bytes, tmp_path: Path, body: bytes, needle: str) -> None:
    _refused_by_cli(tmp_path, craft(base, body=body), needle)


def test_strings_are_printable_and_capped() -> None:
    assert H.printable("ok-1.2") == "ok-1.2"
    s = H.printable("\x1b[31mred\x07\u202e" + "x" * 500)
    assert "\x1b" not in s and "\x07" not in s and "\u202e" not in s and len(s) <= H.MAX_STRING
    assert s.startswith("\\x1b[31mred")


def test_index_offset_bit_flips_fall_back_to_the_scan(base: bytes) -> None:
    """The trailer's index offset has no CRC: any flip in it must still decode (by scanning)."""
    ref, _ = nc.decode(base, device="cpu")
    for byte in range(8):
        for bit in (0, 3, 7):
            bad = bytearray(base)
            bad[len(base) - 12 + byte] ^= 1 << bit
            y, _ = nc.decode(bytes(bad), device="cpu")
            np.testing.assert_array_equal(y, ref)


def test_index_pointing_into_packets_is_not_trusted(base: bytes) -> None:
    """An index whose own CRC is valid but whose offsets do not rise through the packets is ignored."""
    h, payloads = _parts(craft(base))
    data = bytearray(craft(base))
    n = h.n_packets
    idx_off = len(data) - container.index_size(n) + container.TRAILER_SIZE
    body = container.INDEX_MAGIC + struct.pack("<I", n) + struct.pack(f"<{n}Q", *([idx_off - 8] * n))
    data[idx_off : idx_off + len(body) + 4] = body + struct.pack("<I", zlib.crc32(body))
    f = io.BytesIO(bytes(data))
    hh, first = container.read_header(f)
    assert container.read_index(f, hh, first)[0] == first


def test_garbage_payload_with_valid_crc_is_a_format_error(base: bytes, tmp_path: Path) -> None:
    h, payloads = _parts(base)
    junk = [bytes(range(256)) * 3 + b"\x00" for _ in payloads]  # not whole 32-bit words
    _refused_by_cli(tmp_path, craft(base, payloads=junk), "packet 0")
    words = [np.random.default_rng(1).integers(0, 2**32, 64, dtype=np.uint64).astype("<u4").tobytes() for _ in payloads]
    with pytest.raises(FormatError, match="packet 0"):  # decodes to nonsense or fails: never a traceback
        r = nc.MzpReader(craft(base, {"coder": "zstd-v1"}, payloads=words), device="cpu")
        r.packet_latents(0)


def test_range_coder_panic_becomes_format_error() -> None:
    """constriction panics derive from BaseException; `decoding` turns them into FormatError."""
    import constriction

    with pytest.raises(FormatError, match="packet 7 cannot be decoded"):
        with decoding("packet 7"):
            constriction.stream.model.QuantizedLaplace(5, 1)  # an empty support panics in Rust
    try:
        constriction.stream.model.QuantizedLaplace(5, 1)
    except BaseException as exc:  # noqa: B036
        assert is_panic(exc) and not isinstance(exc, Exception)
    with pytest.raises(KeyboardInterrupt):
        with decoding("packet 0"):
            raise KeyboardInterrupt


def test_info_refuses_lying_counts(base: bytes, tmp_path: Path) -> None:
    p = tmp_path / "x.mzp"
    p.write_bytes(craft(base, {"ladder.count": 10**9}))
    code, msg = _call(["info", str(p)])
    assert code == 1 and msg.startswith("muzip: error:") and "ladder.count" in msg


def test_stream_decoding_is_bounded_too(base: bytes) -> None:
    """From a pipe (no size to check against) a lying count runs out of packets, not of memory."""
    n = 10**8
    data = craft(base, {"samples": n, "model_samples": n, "frames": -(-n // 1024)})

    class Pipe(io.BytesIO):
        def seekable(self) -> bool:
            return False

    tracemalloc.start()
    try:
        with pytest.raises(FormatError, match="truncated|packet"):
            with nc.MzpReader(Pipe(data), device="cpu") as r:
                for _ in r.blocks():
                    pass
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < MAX_PEAK_BYTES


# -- weights ------------------------------------------------------------------------------------------

def test_hash_is_compared_exactly() -> None:
    full = registry.resolve(TINY_FREQ).sha256
    assert registry.find_by_hash(TINY_FREQ, full[:16]).model_id == TINY_FREQ
    assert registry.find_by_hash(TINY_FREQ, full).model_id == TINY_FREQ
    for bad in ("", full[:8], full[:15], full[:16].upper(), full[:16] + "0", "0" * 16):
        with pytest.raises(MuzipError, match="not installed"):
            registry.find_by_hash(TINY_FREQ, bad)


def test_weights_hashed_and_loaded_from_the_same_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from neuralcodec.models.freq import FreqCodec, freq_config

    net = FreqCodec(freq_config(latent_dim=8, context_frames=2, extra={"fine_dim": 8, "dim": 16, "enc_blocks": 1,
                                                                      "dec_blocks": 1, "fine_blocks": 1}))
    card = registry.save_weights(net, tmp_path, {})
    entry = registry.ModelEntry(card["id"], "freq", card["sha256"], tmp_path / card["file"], card)
    seen = []
    real_load = torch.load

    def spy(f, *a, **k):  # type: ignore[no-untyped-def]
        seen.append(f)
        return real_load(f, *a, **k)

    monkeypatch.setattr(torch, "load", spy)
    registry.load_model(entry, "cpu")
    assert len(seen) == 1 and isinstance(seen[0], io.BytesIO)  # never re-opened by path
    (tmp_path / card["file"]).write_bytes(b"swapped after the manifest was written")
    registry._CACHE.clear()
    with pytest.raises(MuzipError, match="sha256 mismatch"):
        registry.load_model(entry, "cpu")

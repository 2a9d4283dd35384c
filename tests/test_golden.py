"""Format freeze: the golden files of every released format version still decode (docs/FORMAT.md,
"Versioning"). Integer latents must match bit for bit; the audio matches the reference decode to
16 bits exactly on the machine that made it and within 2 LSB elsewhere (float rounding differs
between CPUs). Regenerate only on purpose: tests/data/golden/make_golden.py."""

from __future__ import annotations

import hashlib
import io
import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import neuralcodec as nc
from neuralcodec import container
from neuralcodec.errors import FormatError, ModelNotFoundError

GOLDEN = Path(__file__).parent / "data" / "golden"
VERSIONS = sorted(p.name for p in GOLDEN.glob("v*") if (p / "golden.json").exists())
CASES = [(v, name, case) for v in VERSIONS
         for name, case in json.loads((GOLDEN / v / "golden.json").read_text())["cases"].items()]


def _make_golden():  # type: ignore[no-untyped-def]
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_golden", GOLDEN / "make_golden.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_every_released_version_has_golden_files() -> None:
    assert {"v1.0", "v2.0"} <= set(VERSIONS)


@pytest.mark.parametrize("version,name,case", CASES, ids=[f"{v}-{n}" for v, n, _ in CASES])
def test_golden_file_decodes(version: str, name: str, case: dict) -> None:
    data = (GOLDEN / version / f"{name}.mzp").read_bytes()
    assert hashlib.sha256(data).hexdigest() == case["file_sha256"], "golden file changed on disk"
    mg = _make_golden()
    assert mg.latents_sha(data) == case["latents_sha256"]
    y, rate = nc.decode(data, device="cpu")
    assert (rate, y.shape) == (case["sample_rate"], (case["channels"], case["samples"]))
    q = mg.pcm16(y)
    if hashlib.sha256(q.tobytes()).hexdigest() != case["pcm16_sha256"]:
        ref, _ = sf.read(GOLDEN / version / f"{name}.ref.flac", dtype="int16", always_2d=True)
        assert np.abs(q.T.astype(np.int32) - ref.astype(np.int32)).max() <= 2


def _with_header(data: bytes, major: int, minor: int, **extra: object) -> bytes:
    f = io.BytesIO(data)
    h, first = container.read_header(f)
    body = json.dumps({**h.fields, **extra}).encode()
    pre = struct.pack("<BBI", major, minor, len(body))
    head = container.MAGIC + pre + body + struct.pack("<I", zlib.crc32(pre + body))
    return head + data[first:]  # the index offsets shift with the header: readers fall back to scanning


def test_policy_newer_minor_decodes_the_same() -> None:
    """A minor bump may only add optional fields: a 1.x reader decodes a 1.7 file with unknown keys."""
    data = (GOLDEN / "v1.0" / "freq-zstd-mono-22k.mzp").read_bytes()
    newer = _with_header(data, 1, 7, future_field={"anything": [1, 2]}, another="x")
    np.testing.assert_array_equal(nc.decode(newer, device="cpu")[0], nc.decode(data, device="cpu")[0])


def test_policy_unknown_major_is_refused_with_a_reason() -> None:
    data = (GOLDEN / "v1.0" / "freq-zstd-mono-22k.mzp").read_bytes()
    with pytest.raises(FormatError, match="format version 9.0 is not supported.*upgrade muzip"):
        nc.decode(_with_header(data, 9, 0), device="cpu")


def test_policy_other_weights_are_refused_with_a_reason() -> None:
    data = (GOLDEN / "v1.0" / "freq-zstd-mono-22k.mzp").read_bytes()
    f = io.BytesIO(data)
    h, _ = container.read_header(f)
    other = _with_header(data, 1, 0, model={**h["model"], "sha256": "0123456789abcdef"})
    with pytest.raises(ModelNotFoundError, match="needs model"):
        nc.decode(other, device="cpu")

"""Encode/decode through the API with tiny random models of both families."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from conftest import FAMILIES, TINY_FREQ, music_like

import neuralcodec as nc
from neuralcodec import container
from neuralcodec.api import MzpReader
from neuralcodec.entropy import RANGE_CODER, ZSTD_CODER
from neuralcodec.models.registry import load_model, resolve


@pytest.mark.parametrize("model", FAMILIES)
@pytest.mark.parametrize("rate,channels,seconds", [(44100, 2, 2.5), (48000, 1, 1.3), (22050, 2, 0.7), (96000, 1, 0.5)])
def test_lengths_rates_channels_exact(model: str, rate: int, channels: int, seconds: float) -> None:
    x = music_like(seconds, rate, channels)
    data = nc.encode(x, rate, "16k", model=model, device="cpu")
    y, r = nc.decode(data, device="cpu")
    assert r == rate and y.shape == x.shape and y.dtype == np.float32
    assert np.isfinite(y).all()


@pytest.mark.parametrize("model", FAMILIES)
def test_integer_latents_survive_exactly(model: str) -> None:
    """Quantized latents recomputed at the encoder equal what the decoder reads from the file."""
    x = music_like(3.0)
    data = nc.encode(x, 44100, "32k", model=model, device="cpu")
    with MzpReader(data, device="cpu") as r:
        h = r.header
        net = load_model(resolve(model))
        from neuralcodec.audio import to_mid_side

        y = net.encode(torch.from_numpy(np.pad(to_mid_side(x), ((0, 0), (0, h["frames"] * 1024 - x.shape[1]))))[:, None])
        steps = r.steps[:, None, None]
        for p in range(h.n_packets):
            a = p * h["chunk_frames"]
            seg = y[:, :, a : a + h["chunk_frames"]].detach().numpy()
            expect = np.round(seg / steps)
            got = np.round(r.packet_latents(p) / steps)
            # chunked vs whole-file float encoder may differ by rounding at exact .5 boundaries only
            assert np.mean(expect == got) > 0.999


def test_same_input_gives_identical_bytes() -> None:
    x = music_like(2.0)
    assert nc.encode(x, 44100, "12k", model=TINY_FREQ) == nc.encode(x, 44100, "12k", model=TINY_FREQ)


@pytest.mark.parametrize("coder", [RANGE_CODER, ZSTD_CODER])
def test_both_coders_decode_the_same_audio(coder: str) -> None:
    x = music_like(2.0, seed=3)
    a = nc.encode(x, 44100, "16k", model=TINY_FREQ, coder=coder)
    with MzpReader(a) as r:
        assert r.header["coder"] == coder
    y, _ = nc.decode(a)
    assert y.shape == x.shape


def test_learned_coder_smaller_than_zstd_on_same_latents() -> None:
    x = music_like(4.0, seed=5)
    rng_file = nc.encode(x, 44100, "16k", model=TINY_FREQ, coder=RANGE_CODER)
    with MzpReader(rng_file) as r:
        k = r.header["step_index"]
        qs = [np.round(r.packet_latents(p) / r.steps[:, None, None]).astype(np.int64) for p in range(r.header.n_packets)]
    from neuralcodec.entropy import Ladder, encode_packet

    d = np.full(qs[0].shape[:2], 32)
    z = sum(len(encode_packet(q, d, ZSTD_CODER, Ladder())) for q in qs)
    rc = sum(len(encode_packet(q, d, RANGE_CODER, Ladder())) for q in qs)
    assert k is not None and rc < z


@pytest.mark.parametrize("model", FAMILIES)
def test_decode_with_other_chunk_grouping_and_threads(model: str) -> None:
    x = music_like(14.0, seed=2)  # 3 packets
    data = nc.encode(x, 44100, "16k", model=model)
    with MzpReader(data, group=1) as r:
        a = np.concatenate(list(r.blocks()), axis=1)
    old = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with MzpReader(data, group=3) as r:
            b = np.concatenate(list(r.blocks()), axis=1)
    finally:
        torch.set_num_threads(old)
    assert a.shape == b.shape == x.shape
    assert np.max(np.abs(a - b)) < 1e-4


@pytest.mark.parametrize("model", FAMILIES)
def test_chunk_boundaries_are_seamless_on_a_sweep(model: str) -> None:
    """Chunked decode equals whole-window decode: no discontinuity at packet edges."""
    sr = 44100
    t = np.arange(int(14 * sr)) / sr
    sweep = (0.4 * np.sin(2 * np.pi * (50 * t + (4000 - 50) / (2 * 14) * t**2))).astype(np.float32)[None]
    data = nc.encode(sweep, sr, "32k", model=model)
    with MzpReader(data) as r:
        chunked = np.concatenate(list(r.model_blocks()), axis=1)
        h = r.header
        whole = r.model.decode(torch.from_numpy(r._latents(0, h["frames"])), torch.tensor(r.log2_steps, dtype=torch.float32))
        whole = whole.detach().numpy()[:, 0]
    assert chunked.shape == whole.shape
    edge = h["chunk_frames"] * h["hop"]
    for b in (edge, 2 * edge):
        seg = slice(b - 256, b + 256)
        assert np.max(np.abs(chunked[:, seg] - whole[:, seg])) < 1e-4


@pytest.mark.parametrize("rate", [44100, 48000])
def test_seek_matches_full_decode(rate: int) -> None:
    x = music_like(15.0, rate, seed=4)
    data = nc.encode(x, rate, "16k", model=TINY_FREQ)
    full, _ = nc.decode(data)
    part, _ = nc.decode(data, start=8.25, duration=3.0)
    s = int(8.25 * rate)
    assert part.shape == (2, 3 * rate)
    err = np.max(np.abs(part - full[:, s : s + part.shape[1]]))
    assert err < 2e-3 * max(1.0, float(np.abs(full).max()))


def test_decoder_uses_only_integers_from_file() -> None:
    """Cross-device safety: perturbing the decoder's float weights (as CUDA vs CPU math would)
    leaves the entropy-decoded integers unchanged; only the frozen integer prior matters."""
    x = music_like(3.0, seed=7)
    data = nc.encode(x, 44100, "16k", model=TINY_FREQ)
    with MzpReader(data) as r:
        q1 = [np.round(r.packet_latents(p) / r.steps[:, None, None]) for p in range(r.header.n_packets)]
        params = list(r.model.parameters())
        saved = [prm.detach().clone() for prm in params]
        with torch.no_grad():
            for prm in params:
                prm.add_(1e-3 * torch.randn_like(prm))
        r._packets.clear()
        q2 = [np.round(r.packet_latents(p) / r.steps[:, None, None]) for p in range(r.header.n_packets)]
        with torch.no_grad():
            for prm, s in zip(params, saved, strict=True):
                prm.copy_(s)
    assert all(np.array_equal(a, b) for a, b in zip(q1, q2, strict=True))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_encode_cpu_decode_and_back() -> None:
    x = music_like(3.0)
    a = nc.encode(x, 44100, "16k", model=TINY_FREQ, device="cuda")
    b = nc.encode(x, 44100, "16k", model=TINY_FREQ, device="cpu")
    ya, _ = nc.decode(a, device="cpu")
    yb, _ = nc.decode(b, device="cuda")
    assert ya.shape == yb.shape == x.shape


def test_header_holds_what_decoder_needs() -> None:
    data = nc.encode(music_like(1.0), 44100, "16k", model=TINY_FREQ)
    h, _ = container.read_header(io.BytesIO(data))
    for key in container.REQUIRED:
        assert key in h.fields
    assert h["model"]["id"] == TINY_FREQ and len(h["model"]["sha256"]) == 16


def test_streaming_writer_equals_one_shot_encode(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """MzpWriter fed odd-sized blocks writes the same bytes as encode() on the whole array."""
    from neuralcodec.api import MzpWriter

    x = music_like(3.0, 48000, 2, seed=9)
    one_shot = nc.encode(x, 48000, "16k", model=TINY_FREQ)
    out = tmp_path / "w.mzp"
    with MzpWriter(out, 48000, 2, bitrate="16k", model=TINY_FREQ) as w:
        for i in range(0, x.shape[1], 7919):
            w.write(x[:, i : i + 7919])
    assert out.read_bytes() == one_shot
    with MzpReader(out) as r:
        blocks = list(r.blocks())
    assert sum(b.shape[1] for b in blocks) == x.shape[1] and len(blocks) >= 1

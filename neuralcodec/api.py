"""The Python API: the CLI, the bench and the tests all go through these functions.

    data = neuralcodec.encode(audio, 44100, bitrate="16k")      # audio: [channels, samples]
    audio, rate = neuralcodec.decode(data)
    neuralcodec.encode_file("song.flac", "song.mzp", bitrate="16k")
    with neuralcodec.MzpReader("song.mzp") as r: r.read(start=30.0, duration=5.0)
"""

from __future__ import annotations

import io
import math
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np

from . import container, layered
from .audio import (
    AudioInfo,
    StreamResampler,
    atomic_output,
    check_stream,
    from_mid_side,
    iter_blocks,
    open_audio,
    spool_stdin,
    to_mid_side,
)
from .entropy import CODERS, RANGE_CODER, Ladder, decode_packet, default_indices, encode_packet
from .errors import FormatError, MuzipError, decoding
from .header import STEP_DIV  # = models.base.STEP_DIV, without importing torch
from .models.registry import ModelEntry, find_by_hash, load_model, resolve
from .ratecontrol import (
    estimate_payload_bits,
    parse_bitrate,
    quality_step_index,
    quantize,
    search_step,
)
from .safeio import check_output
from .tags import validate_tags

if TYPE_CHECKING:  # torch is imported only where a network runs (the autoencoder families)
    from .models.base import CodecModel
    from .pipeline import ChunkEncoder

CHUNK_FRAMES = 256  # latent frames per packet (~6 s at 44.1 kHz)
SIDE_STEP_OFFSET = 8  # side channel quantized 2**(8/16) = 1.41x coarser than mid
Progress = Callable[[int, int], None]  # (done, total) in model-rate samples


def resolve_device(device: str = "auto") -> str:
    """'auto' = CUDA when available; asking for CUDA without one is a clear error."""
    if device == "cpu":
        return device
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise MuzipError("--device cuda requested but no CUDA device is available (use --device cpu)")
    if device != "cpu" and not device.startswith("cuda"):
        raise MuzipError(f"unknown device '{device}' (use auto, cpu or cuda)")
    return device


@dataclass
class EncodeStats:
    duration: float
    bytes: int
    kbps: float
    seconds: float
    step_index: int
    coder: str
    model_id: str
    parts: dict = field(default_factory=dict)
    load_seconds: float = 0.0

    @property
    def realtime(self) -> float:
        return self.duration / max(self.seconds, 1e-9)


def _model_range(entry: ModelEntry) -> tuple[float, float]:
    lo, hi = entry.card.get("bitrate_range_kbps", [1.0, 256.0])
    return float(lo), float(hi)


class MzpWriter:
    """Streaming encoder: push ``[channels, n]`` blocks at ``sample_rate``; ``close()`` writes the file.

    The model runs chunk by chunk as audio arrives (bounded memory: only the latents are kept);
    rate control then picks one quantizer step for the whole file and the packets are written.
    ``dst`` is a path (written atomically: temp file + rename), a binary stream, or None to get
    the bytes back from ``close()``.

        with MzpWriter("out.mzp", 44100, 2, bitrate="16k") as w:
            for block in blocks:
                w.write(block)
    """

    def __init__(self, dst: str | os.PathLike[str] | BinaryIO | None, sample_rate: int, channels: int,
                 bitrate: str | float = "16k", model: str = "mdct", device: str = "auto",
                 coder: str = RANGE_CODER, step_index: int | None = None, expected_samples: int = 0,
                 progress: Progress | None = None, tags: Mapping[str, str] | None = None,
                 quality: float | None = None) -> None:
        self.t0 = time.perf_counter()
        self.tags = validate_tags(tags) if tags else {}  # optional header field, any family
        self.kbps = parse_bitrate(bitrate)
        check_stream(AudioInfo(sample_rate, channels, max(1, expected_samples), channels), "audio")
        self.entry = resolve(model)
        self.transform = self.entry.family == layered.FAMILY  # the layered codec's transform family
        known = layered.CODERS if self.transform else CODERS
        if self.transform and coder == RANGE_CODER:
            coder = layered.LEARNED_CODER  # the default coder of each family
        if coder not in known:
            raise MuzipError(f"unknown entropy coder '{coder}' for model '{self.entry.model_id}' "
                             f"(known: {', '.join(known)})")
        lo, hi = _model_range(self.entry)
        if step_index is None and not lo <= self.kbps <= hi:
            raise MuzipError(f"{self.kbps:g} kbit/s is outside what model '{self.entry.model_id}' can reach "
                             f"({lo:g}-{hi:g} kbit/s)")
        self.device = "cpu" if self.transform else resolve_device(device)  # the transform layer is numpy
        self.net = layered.load_tables(self.entry) if self.transform else load_model(self.entry, self.device)
        self.model_rate = layered.SAMPLE_RATE if self.transform else self.net.sample_rate
        self.load_s = time.perf_counter() - self.t0
        if quality is not None and self.transform:
            step_index = layered.quality_d(quality)
        elif quality is not None:  # constant quality: a fixed step from the model's trained range
            step_index = quality_step_index(quality, self.net.config.log2_step_min,
                                            self.net.config.log2_step_max, STEP_DIV)
        self.t0 = time.perf_counter()  # the realtime factor measures coding, not model loading
        self.dst, self.sample_rate, self.channels = dst, sample_rate, channels
        self.coder, self.step_index, self.progress = coder, step_index, progress
        self.samples = 0
        self.expected_model = round(expected_samples * self.model_rate / sample_rate)
        self.enc: ChunkEncoder | layered.TransformEncoder
        if self.transform:
            self.enc = layered.TransformEncoder(1 if channels == 1 else 2, self.net, *layered.kinds_for(coder))
        else:
            from .pipeline import ChunkEncoder

            self.enc = ChunkEncoder(self.net, self.device, 1 if channels == 1 else 2, CHUNK_FRAMES)
        self.rs = StreamResampler(sample_rate, self.model_rate, channels)
        self.stats: EncodeStats | None = None

    def __enter__(self) -> MzpWriter:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None and self.stats is None:
            self.close()

    def write(self, block: np.ndarray) -> None:
        """Append ``[channels, n]`` float audio; NaN/Inf is an error."""
        block = np.asarray(block, dtype=np.float32)
        if block.ndim == 1 and self.channels == 1:
            block = block[None]
        if block.ndim != 2 or block.shape[0] != self.channels:
            raise MuzipError(f"expected blocks shaped [{self.channels}, n], got {list(block.shape)}")
        if not np.isfinite(block).all():
            raise MuzipError(f"audio contains NaN or infinite samples (after sample {self.samples})")
        self.samples += block.shape[1]
        self.enc.push(to_mid_side(self.rs(block)))
        if self.progress:
            self.progress(self.enc.received, max(self.expected_model, self.enc.received))

    def close(self) -> bytes | EncodeStats:
        """Rate-control, write header + packets + index; bytes if ``dst`` was None, else stats."""
        if self.samples == 0:
            raise MuzipError("contains no audio samples")
        self.enc.push(to_mid_side(self.rs(np.zeros((self.channels, 0), np.float32), last=True)))
        duration = self.samples / self.sample_rate
        if self.transform:
            return self._close_transform(duration)
        y = self.enc.finish()
        n_code = y.shape[0]
        fields = {
            "model": {"id": self.entry.model_id, "sha256": self.entry.sha256[:16], "family": self.entry.family},
            "sample_rate": self.sample_rate, "channels": self.channels, "samples": self.samples,
            "model_sample_rate": self.net.sample_rate, "model_samples": self.enc.received, "hop": self.net.hop,
            "latent_dim": self.net.latent_dim, "frames": y.shape[2], "chunk_frames": CHUNK_FRAMES,
            "context_frames": self.net.context_frames, "coding": "mono" if n_code == 1 else "ms", "step_index": 0,
            "step_div": STEP_DIV, "side_step_offset": SIDE_STEP_OFFSET if n_code == 2 else 0, "coder": self.coder,
            "ladder": Ladder().to_dict(), "encoder": "muzip 0.1.0",
        }
        if self.tags:
            fields["tags"] = self.tags
        if self.step_index is None:
            payloads, k = _rate_control(y, self.net, fields, self.kbps * 1000 * duration)
        else:  # fixed quantizer (constant quality); the bitrate follows the music
            payloads, k = _code_all(y, self.net, fields, self.step_index), self.step_index
        fields["step_index"] = k
        return self._write(container.Header(fields), payloads, k, duration)

    def _close_transform(self, duration: float) -> bytes | EncodeStats:
        assert isinstance(self.enc, layered.TransformEncoder)
        common = {"model": {"id": self.entry.model_id, "sha256": self.entry.sha256[:16], "family": self.entry.family},
                  "sample_rate": self.sample_rate, "channels": self.channels, "samples": self.samples,
                  "encoder": "muzip 0.2.0"}
        if self.tags:
            common["tags"] = self.tags
        target = None if self.step_index is not None else self.kbps * 1000 * duration
        fields, payloads, d, _ = layered.finish_file(self.enc, common, target, self.step_index, self.kbps)
        fields["coder"] = layered.LEARNED_CODER
        return self._write(container.Header(fields, major=layered.MAJOR, minor=0), payloads, d, duration)

    def _write(self, header: container.Header, payloads: list[bytes], k: int, duration: float) -> bytes | EncodeStats:
        buf = io.BytesIO()
        container.write_file(buf, header, payloads)
        data = buf.getvalue()
        head_len = len(header.to_bytes())
        idx = container.index_size(len(payloads))
        self.stats = EncodeStats(duration, len(data), len(data) * 8 / duration / 1000, time.perf_counter() - self.t0,
                                 k, self.coder, self.entry.model_id,
                                 {"header": head_len, "packets": len(data) - head_len - idx, "index": idx}, self.load_s)
        if self.dst is None:
            return data
        if isinstance(self.dst, (str, os.PathLike)):
            with atomic_output(Path(self.dst)) as tmp, open(tmp, "wb") as out:
                out.write(data)
        else:
            self.dst.write(data)
            self.dst.flush()
        return self.stats


def _offsets(fields: dict) -> np.ndarray:
    n = 1 if fields["coding"] == "mono" else 2
    return np.array([0, fields["side_step_offset"]][:n], dtype=np.int64)


def _code_all(y: np.ndarray, net: CodecModel, fields: dict, k: int) -> list[bytes]:
    ladder = Ladder(**fields["ladder"])
    offs = _offsets(fields)
    prior = net.prior_q16.cpu().numpy()
    defaults = np.stack([default_indices(prior, k + o, STEP_DIV, ladder) for o in offs])
    chunk = fields["chunk_frames"]
    out = []
    for a in range(0, y.shape[2], chunk):
        q = quantize(y[:, :, a : a + chunk], k, offs, STEP_DIV)
        out.append(encode_packet(q, defaults, fields["coder"], ladder))
    return out


def _rate_control(y: np.ndarray, net: CodecModel, fields: dict, target_bits: float) -> tuple[list[bytes], int]:
    ladder = Ladder(**fields["ladder"])
    offs = _offsets(fields)
    n_packets = -(-y.shape[2] // fields["chunk_frames"])
    fixed = 8 * (len(container.Header(dict(fields, step_index=-100)).to_bytes())
                 + n_packets * (container.PACKET_OVERHEAD + 2) + container.index_size(n_packets))
    budget = max(target_bits - fixed, 1.0)
    lo = int(np.floor(net.config.log2_step_min * STEP_DIV)) - 2 * STEP_DIV
    hi = int(np.ceil(net.config.log2_step_max * STEP_DIV)) + 6 * STEP_DIV
    cache: dict[int, float] = {}

    def est(k: int) -> float:
        if k not in cache:
            cache[k] = estimate_payload_bits(y, k, offs, STEP_DIV, fields["chunk_frames"], ladder,
                                             net.prior_q16.cpu().numpy())
        return cache[k]

    k = search_step(budget, est, lo, hi)
    if fields["coder"] != RANGE_CODER:
        # zstd is not modelled by the estimate: search on real sizes directly
        def real(kk: int) -> float:
            return 8.0 * sum(len(p) for p in _code_all(y, net, fields, kk))
        k = search_step(budget, real, lo, hi)
        return _code_all(y, net, fields, k), k
    payloads = _code_all(y, net, fields, k)
    for _ in range(3):  # correct the estimate with measured sizes
        real_bits = 8.0 * sum(len(p) for p in payloads)
        if abs(real_bits - budget) <= 0.02 * budget or not lo < k < hi:
            break
        nk = k + (1 if real_bits > budget else -1)
        cand = _code_all(y, net, fields, nk)
        cand_bits = 8.0 * sum(len(p) for p in cand)
        if abs(cand_bits - budget) >= abs(real_bits - budget):
            break
        k, payloads = nk, cand
    return payloads, k


# -- decoding ---------------------------------------------------------------------------------------


class MzpReader:
    """Streaming decoder of an .mzp file (path, bytes or binary stream).

    ``blocks()`` yields ``[channels, n]`` float32 audio at the original rate, packet by packet;
    ``read(start, duration)`` seeks with the index and decodes only the packets it needs.
    """

    def __init__(self, source: str | os.PathLike[str] | bytes | BinaryIO, device: str = "cpu",
                 group: int = 1) -> None:
        if isinstance(source, (bytes, bytearray)):
            self.f: BinaryIO = io.BytesIO(source)
            self._own = True
        elif isinstance(source, (str, os.PathLike)):
            p = Path(source)
            if not p.exists():
                raise MuzipError(f"{p}: no such file")
            if p.is_dir():
                raise MuzipError(f"{p}: is a directory, expected an .mzp file")
            self.f = open(p, "rb")
            self._own = True
        else:
            self.f = source
            self._own = False
        try:
            self._open(device, group)
        except BaseException:
            self.close()
            raise

    def _open(self, device: str, group: int) -> None:
        self.header, self.first_offset = container.read_header(self.f)
        h = self.header
        self.core: layered.TransformDecoder | None = None
        self._offsets: list[int] | None = None
        self._seq: Iterator[tuple[int, bytes]] | None = None
        if h["model"]["family"] == layered.FAMILY:  # the transform family: numpy on the CPU
            self.entry = find_by_hash(h["model"]["id"], h["model"]["sha256"])
            self.device = "cpu"
            self.core = layered.TransformDecoder(h.fields, layered.load_tables(self.entry),
                                                 lambda p: self._payload(p)[0])
            return
        if h["coder"] not in CODERS:
            raise FormatError(f"unknown entropy coder '{h['coder']}' in header")
        self.entry = find_by_hash(h["model"]["id"], h["model"]["sha256"])
        self.device = resolve_device(device)
        self.model = load_model(self.entry, self.device)
        from .header import check_model

        check_model(h.fields, self.model)  # the file's rate, hop, latent size and steps fit this model
        self.group = group
        self.ladder = Ladder(**h["ladder"])
        offs = _offsets(h.fields)
        prior = self.model.prior_q16.cpu().numpy()
        self.defaults = np.stack([default_indices(prior, h["step_index"] + o, STEP_DIV, self.ladder) for o in offs])
        self.steps = np.power(2.0, (h["step_index"] + offs) / STEP_DIV)
        self.log2_steps = (h["step_index"] + offs) / STEP_DIV
        self._packets: dict[int, np.ndarray] = {}

    # context manager
    def __enter__(self) -> MzpReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._own:
            self.f.close()

    @property
    def sample_rate(self) -> int:
        return int(self.header["sample_rate"])

    @property
    def channels(self) -> int:
        return int(self.header["channels"])

    @property
    def samples(self) -> int:
        return int(self.header["samples"])

    def _seekable(self) -> bool:
        try:
            return self.f.seekable()
        except (AttributeError, OSError):
            return False

    def _payload(self, p: int) -> tuple[bytes, int]:
        """Packet ``p``'s CRC-checked payload and its byte offset (-1 when streaming)."""
        if self._seekable():
            if self._offsets is None:
                self._offsets = container.read_index(self.f, self.header, self.first_offset)
            self.f.seek(self._offsets[p])
            return container.read_packet(self.f, p, self._offsets[p]), self._offsets[p]
        if self._seq is None:
            self._seq = container.iter_packets(self.f, self.header, self.first_offset)
        for idx, payload in self._seq:
            if idx == p:
                return payload, -1
        raise FormatError(f"file is truncated: packet {p} is missing")

    def packet_latents(self, p: int) -> np.ndarray:
        """Dequantized latents ``[ch, D, n]`` of packet ``p`` (cached: neighbours are reused)."""
        if p not in self._packets:
            h = self.header
            shape = (h.coding_channels(), h["latent_dim"], h.packet_frames(p))
            payload, off = self._payload(p)
            where = f"packet {p}" + (f" at byte {off}" if off >= 0 else "")
            with decoding(where):  # any failure on CRC-valid bytes, range-coder panics included
                q = decode_packet(payload, shape, self.defaults, h["coder"], self.ladder)
            self._packets[p] = (q * self.steps[:, None, None]).astype(np.float32)
            for old in [k for k in self._packets if k < p - 1]:
                del self._packets[old]
        return self._packets[p]

    def _latents(self, a: int, b: int) -> np.ndarray:
        c = self.header["chunk_frames"]
        parts = []
        for p in range(a // c, (b - 1) // c + 1):
            lat = self.packet_latents(p)
            s, e = max(a, p * c) - p * c, min(b, (p + 1) * c) - p * c
            parts.append(lat[:, :, s:e])
        return np.concatenate(parts, axis=2)

    def model_blocks(self, first: int = 0, last: int | None = None) -> Iterator[np.ndarray]:
        """Model-rate coding-channel audio of packets ``first..last``."""
        h = self.header
        last = h.n_packets - 1 if last is None else last
        if self.core is not None:
            return self.core.blocks(first, last)
        from .pipeline import decode_chunks

        return decode_chunks(self.model, self.device, h["frames"], h["chunk_frames"], first, last,
                             self._latents, self.log2_steps, self.group)

    def blocks(self, progress: Progress | None = None) -> Iterator[np.ndarray]:
        """The whole file as ``[channels, n]`` blocks at the original rate, sample-exact in length."""
        h = self.header
        rs = StreamResampler(h["model_sample_rate"], self.sample_rate, self.channels)
        remaining = self.samples
        done = 0
        total_model = h["model_samples"]
        for block in self.model_blocks():
            block = block[:, : max(0, total_model - done)]
            done += block.shape[1]
            out = rs(from_mid_side(block))
            if progress:
                progress(done, total_model)
            if out.shape[1]:
                out = out[:, :remaining]
                remaining -= out.shape[1]
                yield out
        tail = rs(np.zeros((self.channels, 0), np.float32), last=True)[:, :remaining]
        remaining -= tail.shape[1]
        if tail.shape[1]:
            yield tail
        while remaining > 0:  # in blocks: memory stays bounded whatever the header claims
            n = min(remaining, 1 << 16)
            remaining -= n
            yield np.zeros((self.channels, n), np.float32)

    def read(self, start: float = 0.0, duration: float | None = None) -> np.ndarray:
        """Decode ``[start, start + duration)`` seconds, touching only the packets it needs."""
        h = self.header
        if not math.isfinite(start) or (duration is not None and not math.isfinite(duration)):
            raise MuzipError("--start and --duration must be finite numbers")
        if start < 0 or (duration is not None and duration <= 0):
            raise MuzipError("--start must be >= 0 and --duration > 0")
        s0 = int(round(start * self.sample_rate))
        s1 = self.samples if duration is None else min(self.samples, s0 + int(round(duration * self.sample_rate)))
        if s0 >= self.samples:
            raise MuzipError(f"--start {start:g} s is past the end ({self.samples / self.sample_rate:.2f} s)")
        if s0 == 0 and s1 == self.samples:
            return np.concatenate(list(self.blocks()), axis=1)
        mr, hop, c = h["model_sample_rate"], h["hop"], h["chunk_frames"]
        margin = int(0.05 * mr)  # resampler settling room, cropped below
        unit = mr // math.gcd(mr, self.sample_rate)  # model samples that map to whole output samples
        m0 = max(0, int(s0 * mr / self.sample_rate) - margin) // unit * unit
        m1 = min(h["model_samples"], int(np.ceil(s1 * mr / self.sample_rate)) + margin)
        p0, p1 = m0 // (hop * c), (m1 - 1) // (hop * c)
        model_audio = np.concatenate(list(self.model_blocks(p0, p1)), axis=1)
        base = p0 * c * hop
        seg = from_mid_side(model_audio[:, m0 - base : m1 - base])
        rs = StreamResampler(mr, self.sample_rate, self.channels)
        out = np.concatenate([rs(seg), rs(np.zeros((self.channels, 0), np.float32), last=True)], axis=1)
        first = m0 * self.sample_rate // mr
        out = out[:, s0 - first : s0 - first + (s1 - s0)]
        if out.shape[1] < s1 - s0:
            out = np.pad(out, ((0, 0), (0, s1 - s0 - out.shape[1])))
        return out


# -- public API -----------------------------------------------------------------------------------


def encode(audio: np.ndarray | Any, sample_rate: int, bitrate: str | float = "16k", model: str = "mdct",
           device: str = "auto", coder: str = RANGE_CODER, step_index: int | None = None,
           tags: Mapping[str, str] | None = None, quality: float | None = None) -> bytes:
    """Encode ``[channels, samples]`` (or ``[samples]``) float audio to .mzp bytes.

    ``audio`` is a numpy array or a torch tensor (CPU or CUDA, with or without grad).
    ``quality`` (0-10) or ``step_index`` fixes the quantizer instead of targeting ``bitrate``
    (constant quality); ``tags`` ({"title": ...}) are stored in the header.
    """
    from .arrays import to_numpy

    a = to_numpy(audio)
    if a.ndim == 1:
        a = a[None]
    if a.ndim != 2:
        raise MuzipError("audio must be [channels, samples]")
    check_stream(AudioInfo(sample_rate, a.shape[0], a.shape[1], a.shape[0]), "audio")
    w = MzpWriter(None, sample_rate, a.shape[0], bitrate, model, device, coder, step_index, a.shape[1],
                  tags=tags, quality=quality)
    block = 1 << 16
    for i in range(0, a.shape[1], block):
        w.write(a[:, i : i + block])
    data = w.close()
    assert isinstance(data, bytes)
    return data


def decode(data: bytes, device: str = "auto", start: float = 0.0, duration: float | None = None,
           as_tensor: bool = False) -> tuple[np.ndarray | Any, int]:
    """Decode .mzp bytes to ``([channels, samples] float32, sample_rate)``; with ``as_tensor`` the
    audio is a torch tensor on the decoding device."""
    with MzpReader(data, device=device) as r:  # the reader resolves the device where a network runs
        audio, rate = r.read(start, duration), r.sample_rate
        dev = r.device
    if as_tensor:
        from .arrays import to_tensor

        return to_tensor(audio, resolve_device(device) if device != "auto" else dev), rate
    return audio, rate


def encode_file(src: str | os.PathLike[str], dst: str | os.PathLike[str] | None = None, bitrate: str | float = "16k",
                model: str = "mdct", device: str = "auto", force: bool = False, quiet: bool = True,
                coder: str = RANGE_CODER, progress: Progress | None = None, *,
                tags: Mapping[str, str] | None = None, keep_tags: bool = True, quality: float | None = None,
                verify: bool = False) -> EncodeStats:
    """Encode an audio file (or '-' for stdin) to ``dst`` (default: src with .mzp; '-' = stdout).

    The input's tags are kept (unless ``keep_tags`` is False) and ``tags`` set or, with an empty
    value, delete fields. ``verify`` checks the written bytes and decodes them before the output
    appears (see :mod:`neuralcodec.verify`).
    """
    from .tags import merge, read_tags
    spooled = None
    if str(src) == "-":
        spooled = src_path = spool_stdin()
        if dst is None:
            dst = "-"
    else:
        src_path = str(src)
    try:
        dst = Path(src_path).with_suffix(".mzp") if dst is None else dst
        check_output(dst, force, src_path)  # a folder, unwritable or existing output: refused before any work
        with open_audio(src_path) as f:
            check_stream(f, "stdin" if spooled else str(src))
            file_tags = merge(read_tags(src_path) if keep_tags else {}, tags)
            out: str | os.PathLike[str] | BinaryIO = sys.stdout.buffer if str(dst) == "-" else dst
            w = MzpWriter(None if verify else out, f.samplerate, f.channels, bitrate, model, device, coder,
                          expected_samples=f.frames, progress=progress, tags=file_tags, quality=quality)
            for block in iter_blocks(f):
                w.write(block)
            res = w.close()
            if verify:
                from .verify import write_verified

                assert isinstance(res, bytes)
                write_verified(res, out, device=w.device)
            assert w.stats is not None
            return w.stats
    finally:
        if spooled:
            os.unlink(spooled)


def decode_file(src: str | os.PathLike[str], dst: str | os.PathLike[str] | None = None, device: str = "auto",
                force: bool = False, quiet: bool = True, start: float = 0.0, duration: float | None = None,
                subtype: str = "PCM_16", progress: Progress | None = None, group: int = 1, *,
                rate: int | None = None, channels: int | None = None, dither: bool = True,
                keep_tags: bool = True) -> dict:
    """Decode an .mzp file (or '-' for stdin) to an audio file (default: src with .wav; '-' = stdout WAV).

    ``subtype`` "FLOAT" writes 32-bit float (file or stdout), else 16-bit with TPDF dither (unless
    ``dither`` is False); ``rate``/``channels`` convert on the way out (:mod:`neuralcodec.output`);
    the header's tags are written where the format holds them. The result counts clipped samples.
    """
    from .output import AudioSink

    src_is_stdin = str(src) == "-"
    if dst is None:
        dst = "-" if src_is_stdin else Path(src).with_suffix(".wav")
    check_output(dst, force, None if src_is_stdin else src)  # refused before any work
    t0 = time.perf_counter()
    source: str | os.PathLike[str] | bytes = sys.stdin.buffer.read() if src_is_stdin else src
    with MzpReader(source, device=device, group=group) as r:
        load_s = time.perf_counter() - t0
        t0 = time.perf_counter()  # realtime factor measures decoding, not model loading
        whole = start == 0.0 and duration is None
        blocks = r.blocks(progress) if whole else iter([r.read(start, duration)])
        if not whole:  # a seek: one block, length known once decoded
            first = next(blocks)
            blocks, n_in = iter([first]), first.shape[1]
        else:
            n_in = r.samples
        tags = r.header.fields.get("tags") if keep_tags else None
        sink = AudioSink(dst, r.sample_rate, r.channels, n_in, rate=rate, out_channels=channels,
                         as_float=subtype == "FLOAT", dither=dither, tags=tags)
        with sink:
            for block in blocks:
                sink.write(block)
        return {"samples": sink.written, "sample_rate": sink.rate, "channels": sink.channels,
                "duration": sink.written / sink.rate, "seconds": time.perf_counter() - t0, "load_seconds": load_s,
                "clipped": sink.clipped, "peak": sink.peak, "tags_written": sink.tags_written,
                "source_duration": n_in / r.sample_rate}


def info(src: str | os.PathLike[str], parts: bool = True) -> dict:
    """Header fields, tags and measured sizes: what `muzip info` prints (see :mod:`neuralcodec.fileinfo`).
    ``parts`` adds the payload split, which loads the model (skipped when it is not installed)."""
    from .fileinfo import info as file_info

    out = file_info(src)
    if parts and out["header"]["coder"] == layered.LEARNED_CODER:
        try:
            with MzpReader(Path(src), device="cpu") as r:
                assert r.core is not None
                out["payload_parts"] = layered.payload_parts(r.core, out["packet_payload_bytes"])
        except MuzipError:  # tables not installed: sizes only
            pass
    elif parts and out["header"]["coder"] == RANGE_CODER:
        try:
            out["payload_parts"] = _payload_parts(Path(src), out["packet_payload_bytes"])
        except MuzipError:  # model not installed: sizes only
            pass
    return out


def _payload_parts(path: Path, payload_bytes: int) -> dict[str, float]:
    """Payload bytes split into scale indices and per-channel symbols (ideal code lengths under the
    file's own probability model, scaled to the measured payload; the range coder is within ~1%)."""
    from .entropy import choose_indices, index_bits, laplace_bits

    with MzpReader(path, device="cpu") as r:
        names = ["mid", "side"] if r.header["coding"] == "ms" else ["mono"]
        bits = {"scale indices": 0.0, **{f"{n} symbols": 0.0 for n in names}}
        sig = r.ladder.sigmas()
        for p in range(r.header.n_packets):
            q = np.round(r.packet_latents(p) / r.steps[:, None, None]).astype(np.int64)
            for c, n in enumerate(names):
                j = choose_indices(q[c], r.ladder)
                bits["scale indices"] += index_bits(j, r.defaults[c])
                nz = j > 0
                bits[f"{n} symbols"] += float(laplace_bits(np.abs(q[c][nz]).astype(np.float64), sig[j[nz]][:, None]).sum())
    total = sum(bits.values()) or 1.0
    return {k: payload_bytes * v / total for k, v in bits.items()}

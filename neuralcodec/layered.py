"""The layered codec's transform family ("mdct"): the encoder and decoder cores behind MzpWriter/Reader.

The model this family names is not a network but its frozen entropy tables
(``models/mdct-<sha8>.npz``, integers only, verified by sha256). Audio runs at 44.1 kHz, mid/side:

    encode: [ch, n] blocks -> Analyzer (MDCT, block switching) -> rate control over the global step
            offset D -> per packet: envelope + coefficient integers -> range coder -> payloads
    decode: payload -> integers -> dequantize + noise fill -> inverse MDCT -> [ch, samples]

Packets hold ``CHUNK_FRAMES`` frames; the first frame of each is intra-coded, so any packet decodes
from its own bytes plus the first frame of the next (its overlap), which is what seeking needs.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .errors import FormatError, ModelNotFoundError, MuzipError
from .models.registry import ModelEntry, find_by_hash
from .ratecontrol import search_step
from .transform.codec import (
    HOP,
    Analyzer,
    Synthesizer,
    packet_envelope,
    reconstruct,
)
from .transform.family import D_MAX, D_MIN, FAMILY, MAJOR, SAMPLE_RATE  # noqa: F401  (re-exported)
from .transform.fill_model import FillNet
from .transform.packet import (
    CODER,
    LayerParams,
    PacketInts,
    decode_envelope,
    decode_packet,
    estimate_bits,
)
from .transform.plan import PacketPlan
from .transform.tables import TableSet

CHUNK_FRAMES = 256  # ~6 s per packet
ALPHA16 = 11  # step ~ rms ** (11/16)
MAX_ESTIMATE_PACKETS = 24
ESTIMATE_FRAMES = 64
COEF_SCALE = 1024.0  # coefficients are kept as float16 * COEF_SCALE until coded
DEFAULT_FILL = "noise"  # "noise", "learned" (only if the tables carry fill weights) or "none"; MUZIP_FILL overrides

_TABLES: dict[str, TableSet] = {}


def load_tables(entry: ModelEntry) -> TableSet:
    """Read, verify (full sha256) and parse the family's tables; cached per model id."""
    if entry.model_id in _TABLES:
        return _TABLES[entry.model_id]
    if entry.path is None or not entry.path.exists():
        raise ModelNotFoundError(f"entropy tables {entry.path} are missing")
    blob = entry.path.read_bytes()
    digest = hashlib.sha256(blob).hexdigest()
    if digest != entry.sha256:
        raise ModelNotFoundError(f"{entry.path}: sha256 mismatch (file is damaged or replaced)")
    tables = TableSet.from_bytes(blob, digest)
    _TABLES[entry.model_id] = tables
    return tables


def register_tables(model_id: str, tables: TableSet) -> None:
    """Make in-memory tables loadable (tests)."""
    _TABLES[model_id] = tables


def env_step_for(kbps_per_channel: float) -> int:
    """Envelope step m (1/8 octave) for a rate. Measured on 4 validation clips: a finer envelope
    buys ViSQOL with SI-SDR to spare (8 kbit/s stereo: m=6 3.88 / 9.9 dB / 5.9 dB, m=4 3.95 / 9.9 / 4.0;
    16 kbit/s: m=4 4.02, m=2 4.06), down to where the envelope eats the coefficients' bits."""
    if kbps_per_channel < 3.5:
        return 6
    if kbps_per_channel < 5:
        return 4
    if kbps_per_channel < 10:
        return 3
    return 2


def env_step_for_d(d: int) -> int:
    """Envelope step for a fixed step offset (constant quality), as rate control would pick it for
    the bitrate that D gives (8 kbit/s stereo lands near D = 10, 16 near 0, 64 near -14)."""
    return 4 if d >= 10 else 3 if d >= -8 else 2


class TransformEncoder:
    """Model-rate coding-channel blocks in, packets out (``finish``)."""

    def __init__(self, channels: int, tables: TableSet, env_kind: str = "learned", coef_kind: str = "learned") -> None:
        self.channels = channels
        self.tables = tables
        self.kinds = (env_kind, coef_kind)
        # an hour of stereo is 318 M coefficients: kept as float16 (x 2**10, clear of subnormals;
        # relative precision 2**-11 = -66 dB, far below the quantization noise at 64 kbit/s)
        self.an = Analyzer(channels, np.float16, COEF_SCALE)
        self._plans: dict[tuple[int, int, int, bool], PacketPlan] = {}

    @property
    def received(self) -> int:
        return self.an.received

    def push(self, block: np.ndarray) -> None:
        self.an.push(block)

    def finish(self, target_bits: float | None, fixed_d: int | None, fixed_bits: Callable[[int], float],
               kbps: float, fixed_m: int | None = None, fixed_half: int = 0
               ) -> tuple[dict, list[bytes], dict[str, float]]:
        """Rate control (or a fixed D), then code. Returns the header's ``layer`` field, the payloads
        and the estimated bits per part. ``fixed_bits(n_packets)``: header + framing + index bits."""
        types, coefs = self.an.finish()
        self.types, self.coefs = types, coefs
        n_pk = -(-types.size // CHUNK_FRAMES)
        if fixed_m is not None:  # ablations: the same integers as another file
            m = fixed_m
        else:
            m = env_step_for(kbps / self.channels) if fixed_d is None else env_step_for_d(fixed_d)
        base = LayerParams(m, 0, ALPHA16, *self.kinds)

        def params(e: int) -> LayerParams:
            """Rate control's knob e = 2 D + h: D (1/8 octave) and the half-step bit h."""
            return LayerParams(base.m, e // 2, base.alpha16, base.env_kind, base.coef_kind, e % 2)

        if fixed_d is not None:
            d = 2 * fixed_d + fixed_half
        else:
            budget = max(target_bits - fixed_bits(n_pk), 1.0)
            # the search estimates on ESTIMATE_FRAMES contiguous frames of up to 24 spread packets;
            # the measured sizes below correct what the sample misses
            picks = np.unique(np.linspace(0, n_pk - 1, min(n_pk, MAX_ESTIMATE_PACKETS)).round().astype(int))
            # each estimate is what estimate_bits gives on the packet's integers at e (PacketPlan:
            # the same numbers, with the work that does not depend on e done once per packet)
            sample = [self._plan(p, base, ESTIMATE_FRAMES, keep=True) for p in picks]
            frames = sum(s.shape.types.size for s in sample)
            cache: dict[int, float] = {}

            def est(dd: int) -> float:
                if dd not in cache:
                    bits = 0.0
                    for s in sample:
                        bits += sum(s.bits(dd // 2, dd % 2).values())
                    cache[dd] = bits * types.size / frames + 32.0 * n_pk  # + range-coder flush words
                return cache[dd]

            # start near where music usually lands (e = 2D + h: 8 kbit/s stereo ~16, 16 ~0, 64 ~-28)
            start = int(np.clip(round(-16 * np.log2(max(kbps / self.channels, 0.5) / 8)), 2 * D_MIN, 2 * D_MAX))
            d = search_step(budget, est, 2 * D_MIN, 2 * D_MAX, start=start, stride=8)
            # the sample's estimate can miss by a few percent: refine on the whole file's ideal code
            # lengths (no range coding; they land within ~0.1% of the coded size)
            full: dict[int, float] = {}

            def est_full(dd: int) -> float:
                if dd not in full:
                    full[dd] = sum(sum(self._plan(k, base).bits(dd // 2, dd % 2).values())
                                   for k in range(n_pk)) + 32.0 * n_pk
                return full[dd]

            lo_e, hi_e = 2 * D_MIN, 2 * D_MAX
            if lo_e < d < hi_e and abs(est_full(d) - budget) > 0.01 * budget:
                # one secant jump in log-bits, with the slope the sample shows around d
                slope = (np.log2(est(min(d + 8, hi_e))) - np.log2(est(max(d - 8, lo_e)))) / 16.0
                if slope < 0:
                    jump = int(round((np.log2(budget) - np.log2(est_full(d))) / slope))
                    d = int(np.clip(d + jump, lo_e, hi_e))
            for _ in range(8):  # then single steps to the nearest
                if abs(est_full(d) - budget) <= 0.01 * budget or not lo_e < d < hi_e:
                    break
                nd = d + (1 if est_full(d) > budget else -1)
                if abs(est_full(nd) - budget) >= abs(est_full(d) - budget):
                    break
                d = nd
        p = params(d)
        payloads, parts = [], {}
        for k in range(n_pk):
            payload, bits = self._plan(k, base).encode(p.d, p.half, with_bits=True)
            payloads.append(payload)
            for name, v in bits.items():
                parts[name] = parts.get(name, 0.0) + v
        layer = {"m": p.m, "d": p.d, "h": p.half, "alpha16": p.alpha16, "envelope": p.env_kind,
                 "coefficients": p.coef_kind}
        return layer, payloads, parts

    def envelopes(self, m: int) -> list[PacketInts]:
        """Finish the analysis and return each packet's envelope integers at step ``m`` (no rate
        control, no coefficients): what a file coded at that step carries in its envelope. May be
        called again with another step (the analysis is kept)."""
        if getattr(self, "coefs", None) is None:
            self.types, self.coefs = self.an.finish()
        out = []
        for a in range(0, self.types.size, CHUNK_FRAMES):
            b = min(self.types.size, a + CHUNK_FRAMES)
            out.append(packet_envelope(self.types[a:b], self._coefs(a, b), m))
        return out

    def _plan(self, pk: int, p: LayerParams, frames: int = CHUNK_FRAMES, keep: bool = False) -> PacketPlan:
        """Packet ``pk``'s :class:`PacketPlan` (its first ``frames`` frames: a sample for the rate
        search). Full packets' plans are cached (they are small: the per-bin arrays are not kept)."""
        a = pk * CHUNK_FRAMES
        b = min(self.types.size, (pk + 1) * CHUNK_FRAMES, a + frames)
        key = (pk, p.m, b, keep)
        if key in self._plans:
            return self._plans[key]
        plan = PacketPlan(packet_envelope(self.types[a:b], self._coefs(a, b), p.m), self.coefs[:, a:b],
                          1.0 / COEF_SCALE, p.m, p.alpha16, p.env_kind, p.coef_kind, self.tables, keep=keep)
        self._plans[key] = plan
        return plan

    def _coefs(self, a: int, b: int) -> np.ndarray:
        return self.coefs[:, a:b].astype(np.float32) * np.float32(1.0 / COEF_SCALE)


def params_of(fields: dict) -> LayerParams:
    lay = fields["layer"]
    return LayerParams(lay["m"], lay["d"], lay["alpha16"], lay["envelope"], lay["coefficients"], lay["h"])


@contextmanager
def _packet_errors(k: int) -> Iterator[None]:
    try:
        yield
    except FormatError as exc:
        raise FormatError(f"packet {k}: {exc}") from None
    except BaseException as exc:  # the range coder's panics derive from BaseException
        if isinstance(exc, (KeyboardInterrupt, SystemExit, GeneratorExit)):
            raise
        raise FormatError(f"packet {k} cannot be decoded (corrupted payload)") from None


class TransformDecoder:
    """Packets -> model-rate audio; ``payload(p)`` returns packet p's CRC-checked bytes."""

    def __init__(self, fields: dict, tables: TableSet, payload: Callable[[int], bytes], fill: str | None = None) -> None:
        self.fields, self.tables, self.payload = fields, tables, payload
        self.p = params_of(fields)
        weights = tables.fill_weights()
        self.fill_net = FillNet(weights) if weights else None
        # the decoder chooses the fill (it changes no bit of the file): learned when the tables have it
        self.fill = fill or os.environ.get("MUZIP_FILL") or DEFAULT_FILL
        if self.fill not in ("learned", "noise", "none"):
            raise MuzipError(f"MUZIP_FILL={self.fill!r}: use learned, noise or none")
        if self.fill == "learned" and self.fill_net is None:
            self.fill = "noise"
        self.channels = 1 if fields["coding"] == "mono" else 2
        self.n_packets = -(-fields["frames"] // fields["chunk_frames"])
        self._cache: dict[int, tuple[PacketInts, np.ndarray]] = {}

    def _frames_in(self, k: int) -> int:
        c = self.fields["chunk_frames"]
        return min(c, self.fields["frames"] - k * c)

    def ints(self, k: int, first_only: bool = False) -> PacketInts:
        """Packet k's integers (``first_only``: the first coding channel's alone, for search);
        any failure on the CRC-checked bytes is one FormatError naming the packet."""
        with _packet_errors(k):
            return decode_packet(self.payload(k), self._frames_in(k), self.channels, HOP, self.p, self.tables,
                                 first_only=first_only)

    def envelope(self, k: int) -> tuple[np.ndarray, np.ndarray, int]:
        """Packet k's first-channel envelope, frame types and bandwidth (:func:`decode_envelope`)."""
        with _packet_errors(k):
            return decode_envelope(self.payload(k), self._frames_in(k), HOP, self.p, self.tables)

    def packet(self, k: int) -> tuple[PacketInts, np.ndarray]:
        """Packet k's integers and reconstructed coefficients (the last two are cached)."""
        if k not in self._cache:
            ints = self.ints(k)
            coefs = reconstruct(ints, self.p, k * self.fields["chunk_frames"], fill=self.fill,
                                fill_net=self.fill_net)
            self._cache[k] = (ints, coefs)
            for old in [j for j in self._cache if j < k - 1]:
                del self._cache[old]
        return self._cache[k]

    def blocks(self, first: int, last: int) -> Iterator[np.ndarray]:
        """Model-rate audio ``[ch, n]`` of packets ``first..last``: packet p gives samples
        ``[p * c * hop, (p + 1) * c * hop)`` (the last one up to ``(frames - 1) * hop``)."""
        for k in range(first, last + 1):
            ints, coefs = self.packet(k)
            types = ints.types
            if k + 1 < self.n_packets:
                nxt_ints, nxt = self.packet(k + 1)
                types = np.concatenate([types, nxt_ints.types[:1]])
                coefs = np.concatenate([coefs, nxt[:, :1]], axis=1)
            out = Synthesizer(self.channels).run(types, coefs, 0)
            yield out[:, HOP:].astype(np.float32)


def check_bitrate(kbps: float, entry: ModelEntry) -> None:
    lo, hi = entry.card.get("bitrate_range_kbps", [4.0, 256.0])
    if not lo <= kbps <= hi:
        raise MuzipError(f"{kbps:g} kbit/s is outside what model '{entry.model_id}' can reach ({lo:g}-{hi:g} kbit/s)")


# -- glue for MzpWriter / MzpReader / info -------------------------------------------------------------

LEARNED_CODER = CODER  # "mdct-tables-v1": learned envelope and coefficient tables
ANALYTIC_CODER = "mdct-laplace-v1"  # the same bitstream under the analytic tables (the ablation)
CODERS = (LEARNED_CODER, ANALYTIC_CODER)


def kinds_for(coder: str) -> tuple[str, str]:
    """(envelope, coefficients) table kinds a writer's ``coder`` choice selects."""
    return ("laplace", "laplace") if coder == ANALYTIC_CODER else ("learned", "learned")


def quality_d(quality: float) -> int:
    """Constant quality 0 (smallest, ~6 kbit/s stereo) .. 10 (best, ~120 kbit/s) -> the step offset D."""
    if not 0.0 <= quality <= 10.0:
        raise MuzipError(f"quality {quality:g} is outside 0-10")
    return int(round(20 - 4.5 * quality))


def finish_file(enc: TransformEncoder, common: dict, target_bits: float | None, fixed_d: int | None,
                kbps: float, fixed_m: int | None = None, fixed_half: int = 0
                ) -> tuple[dict, list[bytes], int, dict[str, float]]:
    """Header fields, payloads, D and estimated bits per part for a finished stream.
    ``fixed_m``/``fixed_half`` (with ``fixed_d``): the same integers as another file (ablations)."""
    from . import container

    fields = dict(common)
    fields.update({
        "model_sample_rate": SAMPLE_RATE, "model_samples": enc.received, "hop": HOP,
        "frames": 0, "chunk_frames": CHUNK_FRAMES, "context_frames": 1,
        "coding": "mono" if enc.channels == 1 else "ms", "coder": LEARNED_CODER,
        "layer": {"m": 8, "d": D_MAX, "h": 0, "alpha16": ALPHA16, "envelope": "learned", "coefficients": "learned"},
    })

    def fixed_bits(n_packets: int) -> float:
        head = container.Header(fields, major=MAJOR, minor=0).to_bytes()
        return 8.0 * (len(head) + n_packets * container.PACKET_OVERHEAD + container.index_size(n_packets))

    layer, payloads, parts = enc.finish(target_bits, fixed_d, fixed_bits, kbps, fixed_m, fixed_half)
    fields["layer"] = layer
    fields["frames"] = int(enc.types.size)
    return fields, payloads, int(layer["d"]), parts


def payload_parts(dec: TransformDecoder, payload_bytes: int) -> dict[str, float]:
    """Payload bytes split by part (ideal code lengths of the decoded integers, scaled to the
    measured payload: the range coder lands within about 1% of their sum)."""
    bits: dict[str, float] = {}
    for k in range(dec.n_packets):
        ints, _ = dec.packet(k)
        for name, v in estimate_bits(ints, dec.p, dec.tables).items():
            bits[name] = bits.get(name, 0.0) + v
    total = sum(bits.values()) or 1.0
    return {k: payload_bytes * v / total for k, v in bits.items()}


def file_parts(path: Path, payload_bytes: int) -> dict[str, float]:
    """:func:`payload_parts` of an .mzp file of this family (reads packets, decodes integers only)."""
    from . import container

    with open(path, "rb") as f:
        header, first = container.read_header(f)
        offsets = container.read_index(f, header, first)

        def payload(p: int) -> bytes:
            f.seek(offsets[p])
            return container.read_packet(f, p, offsets[p])

        tables = load_tables(find_by_hash(header["model"]["id"], header["model"]["sha256"]))
        dec = TransformDecoder(header.fields, tables, payload, fill="none")
        return payload_parts(dec, payload_bytes)

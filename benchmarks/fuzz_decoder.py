"""Coverage-guided fuzzing (atheris / libFuzzer) of everything that reads .mzp bytes without a model.

    pip install -e ".[fuzz]"
    OMP_NUM_THREADS=1 nice -n 19 python benchmarks/fuzz_decoder.py --runs 1000000

Each input is a whole file. It goes through the container parser and the validating header reader
(``container.read_header``: JSON, every field, sizes), the header-against-model check with a
stand-in model config, the index reader (trailer, offsets, fallback scan), every packet (length,
CRC) and the entropy decoder (``decode_packet``, range coder and zstd) under the same error
conversion the reader uses (``errors.decoding``), first from a seekable file, then from a pipe.
Random mutations rarely survive a CRC, so every input is also run a second time with its header,
packet and index CRCs recomputed (``fix_crcs``): that variant is the hostile file of issue 12, one
that passes every CRC and carries implausible values. A dictionary of field names and awkward JSON
values steers the mutations into the header.
Accepted outcomes: the file decodes, or a ``MuzipError`` refuses it. Anything else (another
exception, a range-coder panic, a hang past ``--timeout`` seconds, memory past the caps) is a
crash: libFuzzer stops and writes the input to ``<workdir>/crash-*``.

Memory is capped twice: libFuzzer's ``-rss_limit_mb`` and an address-space limit (``RLIMIT_AS``)
``--alloc-mb`` above the worker's footprint at start, so any one large allocation fails as a
MemoryError (a crash) instead of swapping.

The seed corpus is generated here, no torch needed: files written with ``container.write_file`` and
``entropy.encode_packet`` (both coders, mono and stereo, one to several packets). Counts go to
``benchmarks/results/fuzz_decoder.json``; the parent process reads libFuzzer's closing lines and
the worker's own outcome counters.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import re
import resource
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

# the stand-in model: the seeds are made for it, so mutated files reach the model check and beyond
MODEL = SimpleNamespace(config=SimpleNamespace(sample_rate=44100, hop=512, latent_dim=16, context_frames=2,
                                               log2_step_min=-4.0, log2_step_max=2.0))


def _prior(dims: int):  # type: ignore[no-untyped-def]
    import numpy as np

    return (np.arange(dims, dtype=np.int64) % 48) - 40  # a fixed learned-prior stand-in (prior_q16)


def seed_files() -> dict[str, bytes]:
    """Valid files of the shapes the codec writes, for the stand-in model."""
    import numpy as np

    from neuralcodec import container
    from neuralcodec.entropy import Ladder, default_indices, encode_packet

    rng = np.random.default_rng(0)
    out = {}
    for coder in ("laplace-range-v1", "zstd-v1"):
        for channels, seconds, chunk in ((1, 0.05, 4), (2, 0.3, 8), (2, 1.0, 16)):
            rate = 44100
            samples = int(seconds * rate)
            frames = max(1, -(-samples // MODEL.config.hop))
            k = -20
            fields = {"model": {"id": "fuzz-00000000", "sha256": "0" * 16, "family": "freq"},
                      "sample_rate": rate, "channels": channels, "samples": samples, "model_sample_rate": rate,
                      "model_samples": samples, "hop": MODEL.config.hop, "latent_dim": MODEL.config.latent_dim,
                      "frames": frames, "chunk_frames": chunk, "context_frames": MODEL.config.context_frames,
                      "coding": "mono" if channels == 1 else "ms", "step_index": k, "step_div": 16,
                      "side_step_offset": 8 if channels == 2 else 0, "coder": coder,
                      "ladder": Ladder().to_dict(), "encoder": "fuzz seed"}
            offs = [0, 8][:channels]
            defaults = np.stack([default_indices(_prior(16), k + o, 16, Ladder()) for o in offs])
            payloads = []
            for a in range(0, frames, chunk):
                n = min(chunk, frames - a)
                q = np.round(rng.laplace(0, 3, size=(channels, 16, n))).astype(np.int64)
                q[:, ::3] = 0  # silent channels exercise the zero flags
                payloads.append(encode_packet(q, defaults, coder, Ladder()))
            buf = io.BytesIO()
            container.write_file(buf, container.Header(fields), payloads)
            out[f"seed-{coder}-{channels}ch-{seconds}s"] = buf.getvalue()
    return out


def decode_all(data: bytes, seekable: bool) -> int:
    """What a reader does with ``data`` short of running the model; returns the packets decoded."""
    import numpy as np

    from neuralcodec import container
    from neuralcodec import header as hdr
    from neuralcodec.entropy import Ladder, decode_packet, default_indices
    from neuralcodec.errors import decoding

    class Pipe(io.BytesIO):
        def seekable(self) -> bool:
            return False

    f = io.BytesIO(data) if seekable else Pipe(data)
    h, first = container.read_header(f)
    autoencoder = h["model"]["family"] in ("freq", "time")
    if autoencoder:  # another family (mdct) has its own payloads: its header and packets are still read
        hdr.check_model(h.fields, MODEL)
    else:
        h.fields.setdefault("ladder", {"count": 64, "center": 32, "per_octave": 4})
        h.fields.setdefault("side_step_offset", 0)
        h.fields.setdefault("step_index", 0)
        h.fields.setdefault("latent_dim", 1)
    ladder = Ladder(**h["ladder"])
    offs = [0, h["side_step_offset"]][: h.coding_channels()]
    defaults = np.stack([default_indices(_prior(h["latent_dim"]), h["step_index"] + o, 16, ladder) for o in offs])
    if seekable:
        offsets = container.read_index(f, h, first)
        packets = []
        for p, off in enumerate(offsets):
            f.seek(off)
            packets.append((p, container.read_packet(f, p, off)))
    else:
        packets = list(container.iter_packets(f, h, first))
    if not autoencoder:
        return 0
    for p, payload in packets:
        with decoding(f"packet {p}"):
            q = decode_packet(payload, (h.coding_channels(), h["latent_dim"], h.packet_frames(p)), defaults,
                              h["coder"], ladder)
        assert q.shape == (h.coding_channels(), h["latent_dim"], h.packet_frames(p))
    return len(packets)


DICT_TOKENS = [
    *[f'"{k}"' for k in ("model", "id", "sha256", "family", "sample_rate", "channels", "samples",
                         "model_sample_rate", "model_samples", "hop", "latent_dim", "frames", "chunk_frames",
                         "context_frames", "coding", "step_index", "step_div", "side_step_offset", "coder",
                         "ladder", "count", "center", "per_octave", "freq", "time", "mono", "ms",
                         "laplace-range-v1", "zstd-v1")],
    "NaN", "Infinity", "-Infinity", "1e308", "1e999", "-1", "0", "4294967296", "1099511627776",
    "18446744073709551616", "true", "false", "null", "[]", "{}", "[[[[[[[[", "0.5", '"\\u001b[2J"',
    "MZIX", "MZPE", "MUZP",
]


def write_dict(path: Path) -> None:
    lines = []
    for tok in DICT_TOKENS:
        esc = "".join(c if c.isalnum() or c in "-_.[]{}" else f"\\x{ord(c):02x}" for c in tok)
        lines.append(f'"{esc}"')
    path.write_text("\n".join(lines) + "\n")


def fix_crcs(data: bytes) -> bytes:
    """``data`` with its header, packet and index CRCs recomputed where the layout can be followed."""
    import struct
    import zlib

    b = bytearray(data)
    if len(b) < 14 or b[:4] != b"MUZP":
        return data
    (n,) = struct.unpack_from("<I", b, 6)
    off = 10 + n
    if off + 4 > len(b):
        return data
    struct.pack_into("<I", b, off, zlib.crc32(bytes(b[4:off])))
    off += 4
    for _ in range(100_000):
        if off + 8 > len(b) or b[off : off + 4] == b"MZIX":
            break
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


def worker(argv: list[str], stats_path: Path, alloc_mb: int) -> None:
    import atheris
    import constriction  # noqa: F401  (imported before instrumentation: only our code is instrumented)
    import numpy  # noqa: F401
    import zstandard  # noqa: F401

    with atheris.instrument_imports(include=["neuralcodec"]):
        from neuralcodec import container, entropy, errors, header  # noqa: F401
        from neuralcodec.errors import MuzipError

    vm = _vm_bytes()
    resource.setrlimit(resource.RLIMIT_AS, (vm + alloc_mb * 2**20, resource.RLIM_INFINITY))
    counts = {"inputs": 0, "decoded": 0, "refused": 0, "crc_fixed_variants": 0, "crc_fixed_decoded": 0,
              "crc_fixed_refused": 0, "packets_decoded": 0}
    t0 = time.time()

    def run(data: bytes) -> bool:
        ok = True
        for seekable in (True, False):
            try:
                counts["packets_decoded"] += decode_all(data, seekable)
            except MuzipError:
                ok = False
        return ok

    def one_input(data: bytes) -> None:
        counts["inputs"] += 1
        counts["decoded" if run(data) else "refused"] += 1
        fixed = fix_crcs(data)
        if fixed != data:
            counts["crc_fixed_variants"] += 1
            counts["crc_fixed_decoded" if run(fixed) else "crc_fixed_refused"] += 1
        if counts["inputs"] % 2000 == 0:
            _write_stats(stats_path, counts, t0)

    atheris.Setup([sys.argv[0], *argv], one_input)
    try:
        atheris.Fuzz()
    finally:
        _write_stats(stats_path, counts, t0)


def _vm_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
    return 0


def _write_stats(path: Path, counts: dict, t0: float) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({**counts, "seconds": round(time.time() - t0, 1)}))
    os.replace(tmp, path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=1_000_000, help="inputs to run (libFuzzer -runs)")
    ap.add_argument("--timeout", type=int, default=10, help="seconds one input may take (libFuzzer -timeout)")
    ap.add_argument("--rss-mb", type=int, default=1536, help="libFuzzer -rss_limit_mb")
    ap.add_argument("--alloc-mb", type=int, default=512, help="address space allowed above the start footprint")
    ap.add_argument("--max-len", type=int, default=16384, help="largest input in bytes")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workdir", type=Path, default=ROOT / "benchmarks" / "out" / "fuzz")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "fuzz_decoder.json")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--stats", type=Path, help=argparse.SUPPRESS)
    args, rest = ap.parse_known_args()
    if args.worker:
        worker(rest, args.stats, args.alloc_mb)
        return
    corpus = args.workdir / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    for name, data in seed_files().items():
        (corpus / name).write_bytes(data)
    stats = args.workdir / "stats.json"
    stats.unlink(missing_ok=True)
    write_dict(args.workdir / "mzp.dict")
    cmd = [sys.executable, __file__, "--worker", "--stats", str(stats), "--alloc-mb", str(args.alloc_mb),
           str(corpus), f"-dict={args.workdir / 'mzp.dict'}", f"-runs={args.runs}", f"-timeout={args.timeout}", f"-rss_limit_mb={args.rss_mb}",
           f"-max_len={args.max_len}", f"-seed={args.seed}", f"-artifact_prefix={args.workdir}/",
           "-print_final_stats=1", "-print_pcs=0"]
    t0 = time.time()
    log = args.workdir / "fuzz.log"
    with open(log, "w") as lf:
        rc = subprocess.call(cmd, stdout=lf, stderr=subprocess.STDOUT)
    wall = time.time() - t0
    text = log.read_text(errors="replace")
    done = re.search(r"Done (\d+) runs in (\d+) second", text)
    last = re.findall(r"#(\d+)\s+\w+\s+cov: (\d+) ft: (\d+) corp: (\d+)", text)
    crashes = sorted(p.name for p in args.workdir.glob("crash-*")) + sorted(p.name for p in args.workdir.glob("timeout-*")) \
        + sorted(p.name for p in args.workdir.glob("oom-*"))
    counts = json.loads(stats.read_text()) if stats.exists() else {}
    result = {
        "target": "container.read_header + header.validate/check_model + read_index + read_packet/iter_packets "
                  "+ entropy.decode_packet (seekable file and pipe)",
        "runs_requested": args.runs,
        "libfuzzer_runs": int(done.group(1)) if done else None,
        "libfuzzer_seconds": int(done.group(2)) if done else None,
        "worker_counts": counts,
        "coverage": {"cov": int(last[-1][1]), "ft": int(last[-1][2]), "corpus": int(last[-1][3])} if last else None,
        "exit_status": rc,
        "crashes_hangs_ooms": crashes,
        "limits": {"timeout_s": args.timeout, "rss_limit_mb": args.rss_mb, "alloc_above_start_mb": args.alloc_mb,
                   "max_len": args.max_len},
        "seed": args.seed,
        "wall_seconds": round(wall, 1),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores (shared, nice 19), Python {platform.python_version()}",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    if crashes or rc != 0:
        tail = "\n".join(text.splitlines()[-40:])
        print(f"fuzzing stopped (exit {rc}); last lines of {log}:\n{tail}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()

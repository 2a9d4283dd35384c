"""Training loop for both model families: data -> model -> losses -> checkpoint, top to bottom.

Variable rate: each example draws its own quantizer step (log-uniform over the config's range),
so one model covers the whole bitrate ladder and rate control only picks the step. Half of each
batch sees straight-through rounding (what inference does) and half uniform noise (which gives the
encoder a rate gradient). The prior is trained on its own likelihood at all times, the encoder on
``lambda x rate``; DESIGN.md records that either alone stalls the rate.

Several processes or machines: ``torchrun --nproc-per-node N -m neuralcodec.train ...`` trains with
DistributedDataParallel (gloo on CPU, NCCL on CUDA; see docs/SCALE.md). Every excerpt has a global
id, ``(step x world + rank) x batch + i``, and its audio is a function of that id and the seed
alone, so no two ranks draw the same excerpt, a resumed run continues the very same stream, and
the excerpts of a step are those of one process with a ``world`` times larger batch. Rank 0 alone
validates, writes the checkpoint and history, and exports; a resumed run reads the checkpoint on
rank 0 and broadcasts it, so the checkpoint folder need not be shared between machines.

Run ``python -m neuralcodec.train --help`` or ``muzip train --help``.
"""

from __future__ import annotations

import json
import math
import os
import platform
import random
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import click
import numpy as np
import torch

from .losses import LOSS_WEIGHTS, codec_loss, si_sdr, spectral_terms
from .models.base import CodecModel
from .models.registry import build_model, save_weights


@dataclass
class TrainConfig:
    model: str = "freq"
    steps: int = 10000
    batch: int = 8
    frames: int = 48  # latent frames per excerpt (48 * 1024 samples = 1.1 s at 44.1 kHz)
    lr: float = 1e-3
    lam: float = 0.01  # loss per kbit/s of estimated rate
    prior_weight: float = 1.0
    val_every: int = 250
    ckpt_every: int = 250
    seed: int = 0
    threads: int = 0
    device: str = "cpu"
    amp: bool = True  # bf16 autocast on CUDA (the losses stay in float32)


@dataclass(frozen=True)
class Dist:
    """This process's place in a distributed run (``rank`` 0 of 1 when alone)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed(device: str) -> tuple[Dist, str]:
    """Join the process group that torchrun describes (``WORLD_SIZE`` > 1): NCCL with one GPU per
    process (``cuda:LOCAL_RANK``) on CUDA, gloo on CPU. Alone: nothing to join."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist(), device
    import torch.distributed as dist

    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if device.startswith("cuda"):
        torch.cuda.set_device(local)
        device = f"cuda:{local}"
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    return Dist(rank, world, local), device


def excerpt_ids(step: int, d: Dist, batch: int) -> list[int]:
    """The global ids of the excerpts rank ``d.rank`` trains on at ``step``: disjoint between ranks
    and steps, and the same ids a single process with batch ``world x batch`` would draw."""
    first = (step * d.world + d.rank) * batch
    return list(range(first, first + batch))


class ExcerptSource(Protocol):
    def excerpt(self, excerpt_id: int) -> np.ndarray:
        """float32 ``[2, samples]``, a function of the id (and the source's seed) alone."""
        ...


class SyntheticSource:
    """Generated music-like audio (harmonic tones + decaying noise bursts): for CI and smoke runs."""

    def __init__(self, samples: int, seed: int, sample_rate: int = 44100) -> None:
        self.samples, self.seed = samples, seed
        self.t = np.arange(samples) / sample_rate

    def excerpt(self, excerpt_id: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, excerpt_id])
        t, samples = self.t, self.samples
        out = np.zeros((2, samples), dtype=np.float32)
        for _ in range(rng.integers(1, 4)):
            f0 = rng.uniform(60, 1000)
            amp = rng.uniform(0.05, 0.3)
            tone = sum(amp / k * np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 6)) for k in range(1, 6))
            pan = rng.uniform(0.2, 0.8)
            out[0] += pan * tone
            out[1] += (1 - pan) * tone
        burst = rng.normal(0, 0.05, samples) * np.exp(-((t * rng.uniform(2, 8)) % 1.0) * 8)
        out += burst[None].astype(np.float32)
        return out


class CorpusSource:
    """Stereo excerpts of one split of a corpus built by ``muzip data`` (or packed shards, see
    :mod:`neuralcodec.data.shards`): the excerpt with id ``i`` is drawn with a generator seeded by
    ``(seed, i)``, so it does not depend on which process draws it or what was drawn before."""

    def __init__(self, manifest: Path, split: str, samples: int, seed: int, augment: bool = True) -> None:
        from .data import ExcerptSampler

        self.samples, self.seed = samples, seed
        self.sampler = ExcerptSampler(manifest, split, sample_rate=44100, excerpt_seconds=samples / 44100, seed=seed,
                                      augment=augment)

    def excerpt(self, excerpt_id: int) -> np.ndarray:
        x = self.sampler._draw(np.random.default_rng([self.seed, excerpt_id]))
        return x.numpy()[:, : self.samples]


def source_batch(source: ExcerptSource, ids: list[int]) -> torch.Tensor:
    return torch.from_numpy(np.stack([source.excerpt(i) for i in ids]))


def synthetic_batches(batch: int, samples: int, seed: int) -> Iterator[torch.Tensor]:
    """Batches ``[batch, 2, samples]`` of :class:`SyntheticSource` excerpts 0, 1, 2, ..."""
    source = SyntheticSource(samples, seed)
    for step in range(sys.maxsize):
        yield source_batch(source, list(range(step * batch, (step + 1) * batch)))


def to_mono_views(stereo: torch.Tensor, rng: random.Random) -> torch.Tensor:
    """``[B, 2, T]`` -> ``[B, 1, T]``: mostly mid, sometimes side, as the codec codes M/S."""
    mid = 0.5 * (stereo[:, 0] + stereo[:, 1])
    side = 0.5 * (stereo[:, 0] - stereo[:, 1])
    pick = torch.tensor([rng.random() < 0.75 for _ in range(stereo.shape[0])])
    return torch.where(pick[:, None], mid, side)[:, None, :]


def train_step(model: CodecModel, x: torch.Tensor, cfg: TrainConfig, rng: random.Random) -> dict[str, torch.Tensor]:
    """One forward pass; returns the loss terms, ``loss`` and ``kbps`` (estimated, per example)."""
    mc = model.config
    b = x.shape[0]
    dev = x.device
    log2_step = torch.tensor([rng.uniform(mc.log2_step_min, mc.log2_step_max) for _ in range(b)], device=dev)
    step = 2.0 ** log2_step
    amp = cfg.amp and dev.type == "cuda"
    with torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=amp):
        y = model.encode(x).float()
        noisy = model.quantize_noise(y, step)
        hard = model.quantize_ste(y, step)
        use_noise = torch.arange(b, device=dev) < b // 2
        y_hat = torch.where(use_noise[:, None, None], noisy, hard)
        spec_hat = model.decode_spec(y_hat, log2_step) if hasattr(model, "decode_spec") else None
        x_hat = (model.decode(y_hat, log2_step) if spec_hat is None else model.istft(spec_hat, x.shape[-1])).float()
    terms = codec_loss(x, x_hat, mc.sample_rate)
    if spec_hat is not None:  # frequency-domain family: supervise the predicted spectrum too
        terms.update(spectral_terms(model.stft(x), spec_hat.to(torch.complex64), model.stft(x_hat)))
    seconds = x.shape[-1] / mc.sample_rate
    # encoder pays lambda x rate with the prior held fixed; the prior fits its own likelihood
    bits_enc = model.rate_bits(noisy, step, detach_prior=True)
    bits_prior = model.rate_bits(noisy.detach(), step)
    kbps = bits_enc / seconds / 1000
    dist = sum(LOSS_WEIGHTS[k] * v for k, v in terms.items())
    n_sym = y.shape[1] * y.shape[2]
    loss = dist + cfg.lam * kbps.mean() + cfg.prior_weight * bits_prior.mean() / n_sym
    terms.update(loss=loss, dist=dist, kbps=kbps.detach(), log2_step=log2_step)
    return terms


@torch.no_grad()
def validate(model: CodecModel, val: list[torch.Tensor], steps: tuple[float, ...]) -> dict[str, float]:
    """Real rounding at fixed steps: estimated kbit/s, loss and SI-SDR per step."""
    model.eval()
    out: dict[str, float] = {}
    x = torch.cat(val)
    y = model.encode(x)
    for ls in steps:
        step = torch.full((x.shape[0],), 2.0 ** ls, device=x.device)
        q = torch.round(y / step[:, None, None]) * step[:, None, None]
        x_hat = model.decode(q, torch.full((x.shape[0],), ls, device=x.device))
        terms = codec_loss(x, x_hat, model.sample_rate)
        bits = model.rate_bits(q, step)
        out[f"kbps@{ls:g}"] = float(bits.mean() / (x.shape[-1] / model.sample_rate) / 1000)
        out[f"dist@{ls:g}"] = float(sum(LOSS_WEIGHTS[k] * v for k, v in terms.items()))
        out[f"sisdr@{ls:g}"] = float(si_sdr(x[:, 0], x_hat[:, 0]).mean())
        out[f"level_db@{ls:g}"] = float(10 * torch.log10(x_hat.pow(2).mean() / x.pow(2).mean().clamp_min(1e-12)))
    model.train()
    return out


def save_checkpoint(path: Path, model: CodecModel, opt: torch.optim.Optimizer, step: int, cfg: TrainConfig,
                    history: list[dict]) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save({"model_config": model.config.to_dict(), "state_dict": model.state_dict(),
                "opt": opt.state_dict(), "step": step, "train_config": cfg.__dict__,
                "history": history}, tmp)
    tmp.replace(path)


class _Step(torch.nn.Module):
    """What DistributedDataParallel wraps: one training forward (:func:`train_step`) as ``forward``,
    so DDP sees every parameter the step uses and averages their gradients across ranks."""

    def __init__(self, model: CodecModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, cfg: TrainConfig, rng: random.Random) -> dict[str, torch.Tensor]:
        return train_step(self.model, x, cfg, rng)


def _load_state(ckpt: Path, resume: bool, d: Dist) -> dict | None:
    """The checkpoint to resume from: read by rank 0 and broadcast, so the folder need not be shared."""
    state = torch.load(ckpt, map_location="cpu", weights_only=True) if resume and d.main and ckpt.exists() else None
    if d.world > 1:
        import torch.distributed as dist

        box = [state]
        dist.broadcast_object_list(box, src=0)
        state = box[0]
    return state


def _source(data: Path | None, split: str, samples: int, seed: int, d: Dist, batch: int,
            augment: bool = True) -> ExcerptSource:
    if data is None:
        return SyntheticSource(samples, seed)
    from .data.shards import ShardSource, is_shards

    if is_shards(data):  # each rank streams its own shards
        return ShardSource(data, split, samples, seed, rank=d.rank, world=d.world, batch=batch, augment=augment)
    if d.world == 1:
        return CorpusSource(data, split, samples, seed, augment)
    import torch.distributed as dist

    if not d.main:  # rank 0 fills the decoded-audio cache first; the others then map it
        dist.barrier()
    src = CorpusSource(data, split, samples, seed, augment)
    if d.main:
        dist.barrier()
    return src


def run(cfg: TrainConfig, data: Path | None, out_dir: Path, resume: bool = True, quiet: bool = False,
        model_overrides: dict | None = None, until: int | None = None, excerpt_log: bool = False) -> CodecModel:
    """Train (or resume) into ``out_dir``; returns the model. ``data=None`` uses synthetic audio.

    Under torchrun (``WORLD_SIZE`` > 1) the model is wrapped in DistributedDataParallel, each rank
    trains on its own excerpts (:func:`excerpt_ids`) and rank 0 alone validates and checkpoints.
    ``until`` stops after that step (with a checkpoint) while keeping the ``cfg.steps`` schedule:
    for time-limited cluster jobs that resume. ``excerpt_log`` writes each rank's excerpt ids per
    step to ``out_dir/excerpts-rank{R}.jsonl``.
    """
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from .models.freq import freq_config
    from .models.time import time_config

    d, device = init_distributed(cfg.device)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    ckpt = out_dir / "checkpoint.pt"
    mcfg = (freq_config if cfg.model == "freq" else time_config)(**(model_overrides or {}))
    model = build_model(mcfg)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=(0.8, 0.99), weight_decay=1e-4)
    start, history = 0, []
    state = _load_state(ckpt, resume, d)
    if state is not None:
        model = build_model(state["model_config"])
        model.load_state_dict(state["state_dict"])
        opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=(0.8, 0.99), weight_decay=1e-4)
        opt.load_state_dict(state["opt"])
        start, history = int(state["step"]), list(state["history"])
    del state
    samples = cfg.frames * model.hop
    source = _source(data, "train", samples, cfg.seed, d, cfg.batch)
    dev = torch.device(device)
    model.to(dev)
    for state_t in opt.state.values():  # a resumed optimizer follows the model to the device
        for k, v in state_t.items():
            if torch.is_tensor(v) and k != "step":
                state_t[k] = v.to(dev)
    step_fn: torch.nn.Module = _Step(model)
    if d.world > 1:
        from torch.nn.parallel import DistributedDataParallel

        step_fn = DistributedDataParallel(step_fn, device_ids=[d.local_rank] if dev.type == "cuda" else None)
    if d.main:
        if data is None:
            val = [next(synthetic_batches(8, samples * 2, 12345))]
        else:
            vsource = _source(data, "validation", samples * 2, 12345, Dist(), 8, augment=False)
            val = [source_batch(vsource, list(range(8)))]
        val_mono = [to_mono_views(v, random.Random(0)).to(dev) for v in val]
        val_steps = (model.config.log2_step_max, 0.0, -2.0, model.config.log2_step_min)
        (out_dir / "train_config.json").write_text(json.dumps(dict(cfg.__dict__, world_size=d.world), indent=1))
    stop = cfg.steps if until is None else min(until, cfg.steps)
    log = open(out_dir / f"excerpts-rank{d.rank}.jsonl", "a") if excerpt_log else None
    t0 = time.time()
    model.train()
    with Progress(TextColumn("[bold]train {task.fields[model]}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TextColumn("loss {task.fields[loss]:.3f} ~{task.fields[kbps]:.1f} kbit/s"), TimeRemainingColumn(),
                  disable=quiet or not d.main) as bar:
        task = bar.add_task("train", total=cfg.steps, completed=start, model=cfg.model, loss=0.0, kbps=0.0)
        for step in range(start, stop):
            lr = cfg.lr * min(1.0, (step + 1) / 200) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / cfg.steps)))
            for g in opt.param_groups:
                g["lr"] = lr
            rng = random.Random(f"{cfg.seed}/{step}/{d.rank}")  # a function of the step: resumes exactly
            torch.manual_seed(rng.getrandbits(63))  # the quantizer noise too
            ids = excerpt_ids(step, d, cfg.batch)
            if log is not None:
                log.write(json.dumps({"step": step, "rank": d.rank, "ids": ids}) + "\n")
                log.flush()
            x = to_mono_views(source_batch(source, ids), rng).to(dev, non_blocking=True)
            terms = step_fn(x, cfg, rng)
            opt.zero_grad(set_to_none=True)
            terms["loss"].backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            bar.update(task, advance=1, loss=float(terms["loss"].detach()), kbps=float(terms["kbps"].mean()))
            done = step + 1
            if not d.main:
                continue
            if done % cfg.val_every == 0 or done == cfg.steps:
                rec = {"step": done, "wall_s": round(time.time() - t0, 1), "loss": float(terms["loss"].detach()),
                       **{k: round(v, 4) for k, v in validate(model, val_mono, val_steps).items()}}
                history.append(rec)
                with open(out_dir / "history.jsonl", "a") as fh:
                    fh.write(json.dumps(rec) + "\n")
                if not quiet:
                    bar.console.print(rec)
            if done % cfg.ckpt_every == 0 or done == stop:
                save_checkpoint(ckpt, model, opt, done, cfg, history)
    if log is not None:
        log.close()
    if d.world > 1:
        import torch.distributed as dist

        dist.barrier()  # the checkpoint is on disk before any rank reports the run finished
    return model


def update_manifest(models_folder: Path, entry: dict) -> Path:
    """Add ``entry`` to ``models/manifest.json``; it becomes its family's default (last wins)."""
    path = models_folder / "manifest.json"
    data = json.loads(path.read_text()) if path.exists() else {"format": 1, "models": []}
    data["models"] = [m for m in data["models"] if m["id"] != entry["id"]]
    for m in data["models"]:
        if m["family"] == entry["family"]:
            m["default"] = False
    data["models"].append(dict(entry, default=True))
    path.write_text(json.dumps(data, indent=1) + "\n")
    return path


def corpus_summary(manifest: Path) -> dict:
    """What a model card says about its data: packages, split rule, tracks and hours per split."""
    from .data.shards import is_shards, read_index

    if is_shards(manifest):
        folder, index = read_index(manifest)
        out = {"shards": str(folder), "source": index.get("source")}
        for split in ("train", "validation"):
            sh = [s for s in index["shards"] if s["split"] == split]
            out[split] = {"shards": len(sh), "tracks": sum(s["tracks"] for s in sh),
                          "hours": round(sum(s["seconds"] for s in sh) / 3600, 2)}
        return out
    m = json.loads(Path(manifest).read_text())
    out: dict = {"manifest": str(manifest), "packages": m.get("packages"), "split_rule": m.get("split_rule")}
    for split in ("train", "validation"):
        tracks = [t for t in m["tracks"] if t["split"] == split]
        out[split] = {"tracks": len(tracks), "hours": round(sum(t["duration"] for t in tracks) / 3600, 2)}
    return out


def export(checkpoint: Path, models_folder: Path, card: dict) -> dict:
    """Checkpoint -> ``models/<family>-<sha8>.pt`` (fp16 weights) and its manifest entry."""
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    model = build_model(state["model_config"])
    model.load_state_dict(state["state_dict"])
    half = {k: (v.half() if v.is_floating_point() else v) for k, v in model.state_dict().items()}
    model_h = build_model(state["model_config"])
    model_h.load_state_dict(half)  # round-trip through fp16 so the shipped weights are what we test
    hist = list(state.get("history", []))
    wall, last = 0.0, 0.0
    for rec in hist:  # wall_s restarts at each resume: sum the segments
        if rec["wall_s"] < last:
            wall += last
        last = rec["wall_s"]
    card = {"steps": state["step"], "train_config": state["train_config"],
            "params": sum(p.numel() for p in model_h.parameters()), "train_wall_s": round(wall + last),
            "last_validation": hist[-1] if hist else None, **card}
    return save_weights(model_h, models_folder, card, dtype=torch.float16)


@click.command("train")
@click.argument("data", required=False, type=click.Path(path_type=Path))
@click.option("--model", "family", type=click.Choice(["freq", "time"]), default="freq", show_default=True)
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("runs/freq"), show_default=True,
              help="Checkpoint folder (training resumes from it).")
@click.option("--steps", type=int, default=10000, show_default=True)
@click.option("--batch", type=int, default=8, show_default=True)
@click.option("--frames", type=int, default=48, show_default=True, help="Latent frames per excerpt (x1024 samples).")
@click.option("--lr", type=float, default=1e-3, show_default=True)
@click.option("--lam", type=float, default=0.01, show_default=True, help="Loss per kbit/s of rate.")
@click.option("--val-every", type=int, default=250, show_default=True)
@click.option("--threads", type=int, default=0, help="torch threads (0: torch's default).")
@click.option("--synthetic", is_flag=True, help="Train on generated audio (smoke tests, CI).")
@click.option("--device", default="cpu", show_default=True, help="cpu or cuda (bf16 autocast on CUDA)")
@click.option("--export", "export_to", type=click.Path(path_type=Path), default=None,
              help="After training, write fp16 weights + manifest entry into this models/ folder.")
@click.option("--until", type=click.IntRange(min=1), default=None,
              help="Stop after this step with a checkpoint, keeping the --steps schedule (time-limited jobs that "
                   "resume).")
@click.option("--excerpt-log", is_flag=True, help="Write each rank's excerpt ids per step to OUT/excerpts-rankR.jsonl.")
@click.option("-q", "--quiet", is_flag=True)
def train_command(data: Path | None, family: str, out_dir: Path, steps: int, batch: int, frames: int, lr: float, lam: float,
                  val_every: int, threads: int, synthetic: bool, device: str, export_to: Path | None,
                  until: int | None, excerpt_log: bool, quiet: bool) -> None:
    """Train or fine-tune a model on DATA (a corpus manifest.json or folder from `muzip data`).

    On several processes or machines: torchrun --nproc-per-node N -m neuralcodec.train ... (DDP;
    gloo on CPU, NCCL on CUDA; rank 0 validates, checkpoints and exports; docs/SCALE.md).
    """
    from .errors import MuzipError

    if data is None and not synthetic:
        raise MuzipError("give a corpus (see `muzip data`) or --synthetic")
    from .data.shards import is_shards

    if data is not None and data.is_dir() and not is_shards(data):
        data = data / "manifest.json"
    if data is not None and not data.exists():
        raise MuzipError(f"{data}: no such corpus manifest (build one with `muzip data`, or shards with "
                         f"`python -m neuralcodec.data.shards`)")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise MuzipError("--device cuda requested but no CUDA device is available")
    cfg = TrainConfig(model=family, steps=steps, batch=batch, frames=frames, lr=lr, lam=lam, val_every=val_every,
                      ckpt_every=val_every, threads=threads, device=device)
    t0 = time.time()
    run(cfg, None if synthetic else data, out_dir, quiet=quiet, until=until, excerpt_log=excerpt_log)
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        import torch.distributed as dist

        rank = dist.get_rank()
        dist.destroy_process_group()
        if rank != 0:  # rank 0 alone exports and reports
            return
    if export_to is not None and (until is None or until >= steps):
        cpu = platform.processor() or platform.machine()
        card = {"training_data": corpus_summary(data) if data else "synthetic",
                "hardware": f"{cpu}, {torch.get_num_threads()} threads", "wall_s_this_run": round(time.time() - t0)}
        entry = export(out_dir / "checkpoint.pt", export_to, card)
        update_manifest(export_to, entry)
        click.echo(f"exported {entry['id']} to {export_to}", err=True)
    click.echo(f"checkpoint: {out_dir / 'checkpoint.pt'}  (host {platform.node()}, {torch.get_num_threads()} threads)",
               err=True)


def main(argv: list[str] | None = None) -> None:
    """``python -m neuralcodec.train`` (what torchrun starts): one-line errors, as `muzip` gives."""
    from .errors import MuzipError

    try:
        train_command.main(argv, prog_name="python -m neuralcodec.train", standalone_mode=False)
    except click.exceptions.Abort:
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except MuzipError as exc:
        click.echo(f"muzip train: error: {exc}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()

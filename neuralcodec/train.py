"""Training loop for both model families: data -> model -> losses -> checkpoint, top to bottom.

Variable rate: each example draws its own quantizer step (log-uniform over the config's range),
so one model covers the whole bitrate ladder and rate control only picks the step. Half of each
batch sees straight-through rounding (what inference does) and half uniform noise (which gives the
encoder a rate gradient). The prior is trained on its own likelihood at all times, the encoder on
``lambda x rate``; DESIGN.md records that either alone stalls the rate.

Run ``python -m neuralcodec.train --help`` or ``muzip train --help``.
"""

from __future__ import annotations

import json
import math
import platform
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

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


def synthetic_batches(batch: int, samples: int, seed: int) -> Iterator[torch.Tensor]:
    """Generated music-like audio (harmonic tones + decaying noise bursts): for CI and smoke runs."""
    rng = np.random.default_rng(seed)
    sr = 44100
    t = np.arange(samples) / sr
    while True:
        out = np.zeros((batch, 2, samples), dtype=np.float32)
        for b in range(batch):
            for _ in range(rng.integers(1, 4)):
                f0 = rng.uniform(60, 1000)
                amp = rng.uniform(0.05, 0.3)
                tone = sum(amp / k * np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 6)) for k in range(1, 6))
                pan = rng.uniform(0.2, 0.8)
                out[b, 0] += pan * tone
                out[b, 1] += (1 - pan) * tone
            burst = rng.normal(0, 0.05, samples) * np.exp(-((t * rng.uniform(2, 8)) % 1.0) * 8)
            out[b] += burst[None].astype(np.float32)
        yield torch.from_numpy(out)


def corpus_batches(manifest: Path, split: str, batch: int, samples: int, seed: int,
                   augment: bool = True) -> Iterator[torch.Tensor]:
    """Stereo excerpts from the Debian-music (or FMA) corpus built by ``muzip data``."""
    from .data import ExcerptSampler

    sampler = ExcerptSampler(manifest, split, sample_rate=44100, excerpt_seconds=samples / 44100, seed=seed,
                             augment=augment)
    it = iter(sampler)
    while True:
        xs = [torch.as_tensor(next(it))[..., :samples] for _ in range(batch)]
        yield torch.stack(xs)


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


def run(cfg: TrainConfig, data: Path | None, out_dir: Path, resume: bool = True, quiet: bool = False,
        model_overrides: dict | None = None) -> CodecModel:
    """Train (or resume) into ``out_dir``; returns the model. ``data=None`` uses synthetic audio."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from .models.freq import freq_config
    from .models.time import time_config

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    rng = random.Random(cfg.seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    ckpt = out_dir / "checkpoint.pt"
    mcfg = (freq_config if cfg.model == "freq" else time_config)(**(model_overrides or {}))
    model = build_model(mcfg)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=(0.8, 0.99), weight_decay=1e-4)
    start, history = 0, []
    if resume and ckpt.exists():
        state = torch.load(ckpt, map_location="cpu", weights_only=True)
        model = build_model(state["model_config"])
        model.load_state_dict(state["state_dict"])
        opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=(0.8, 0.99), weight_decay=1e-4)
        opt.load_state_dict(state["opt"])
        start, history = int(state["step"]), list(state["history"])
        rng.seed(cfg.seed + start)
    samples = cfg.frames * model.hop
    if data is None:
        batches = synthetic_batches(cfg.batch, samples, cfg.seed + start)
        val = [next(synthetic_batches(8, samples * 2, 12345))]
    else:
        batches = corpus_batches(data, "train", cfg.batch, samples, cfg.seed + start)
        vgen = corpus_batches(data, "validation", 8, samples * 2, 12345, augment=False)
        val = [next(vgen)]
    dev = torch.device(cfg.device)
    model.to(dev)
    for state_t in opt.state.values():  # a resumed optimizer follows the model to the device
        for k, v in state_t.items():
            if torch.is_tensor(v) and k != "step":
                state_t[k] = v.to(dev)
    val_mono = [to_mono_views(v, random.Random(0)).to(dev) for v in val]
    val_steps = (model.config.log2_step_max, 0.0, -2.0, model.config.log2_step_min)
    t0 = time.time()
    (out_dir / "train_config.json").write_text(json.dumps(cfg.__dict__, indent=1))
    model.train()
    with Progress(TextColumn("[bold]train {task.fields[model]}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TextColumn("loss {task.fields[loss]:.3f} ~{task.fields[kbps]:.1f} kbit/s"), TimeRemainingColumn(),
                  disable=quiet) as bar:
        task = bar.add_task("train", total=cfg.steps, completed=start, model=cfg.model, loss=0.0, kbps=0.0)
        for step in range(start, cfg.steps):
            lr = cfg.lr * min(1.0, (step + 1) / 200) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / cfg.steps)))
            for g in opt.param_groups:
                g["lr"] = lr
            x = to_mono_views(next(batches), rng).to(dev, non_blocking=True)
            terms = train_step(model, x, cfg, rng)
            opt.zero_grad(set_to_none=True)
            terms["loss"].backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            bar.update(task, advance=1, loss=float(terms["loss"].detach()), kbps=float(terms["kbps"].mean()))
            done = step + 1
            if done % cfg.val_every == 0 or done == cfg.steps:
                rec = {"step": done, "wall_s": round(time.time() - t0, 1), "loss": float(terms["loss"].detach()),
                       **{k: round(v, 4) for k, v in validate(model, val_mono, val_steps).items()}}
                history.append(rec)
                with open(out_dir / "history.jsonl", "a") as fh:
                    fh.write(json.dumps(rec) + "\n")
                if not quiet:
                    bar.console.print(rec)
            if done % cfg.ckpt_every == 0 or done == cfg.steps:
                save_checkpoint(ckpt, model, opt, done, cfg, history)
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
@click.option("-q", "--quiet", is_flag=True)
def train_command(data: Path | None, family: str, out_dir: Path, steps: int, batch: int, frames: int, lr: float, lam: float,
                  val_every: int, threads: int, synthetic: bool, device: str, export_to: Path | None,
                  quiet: bool) -> None:
    """Train or fine-tune a model on DATA (a corpus manifest.json or folder from `muzip data`)."""
    from .errors import MuzipError

    if data is None and not synthetic:
        raise MuzipError("give a corpus (see `muzip data`) or --synthetic")
    if data is not None and data.is_dir():
        data = data / "manifest.json"
    if data is not None and not data.exists():
        raise MuzipError(f"{data}: no such corpus manifest (build one with `muzip data`)")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise MuzipError("--device cuda requested but no CUDA device is available")
    cfg = TrainConfig(model=family, steps=steps, batch=batch, frames=frames, lr=lr, lam=lam, val_every=val_every,
                      ckpt_every=val_every, threads=threads, device=device)
    t0 = time.time()
    run(cfg, None if synthetic else data, out_dir, quiet=quiet)
    if export_to is not None:
        cpu = platform.processor() or platform.machine()
        card = {"training_data": corpus_summary(data) if data else "synthetic",
                "hardware": f"{cpu}, {torch.get_num_threads()} threads", "wall_s_this_run": round(time.time() - t0)}
        entry = export(out_dir / "checkpoint.pt", export_to, card)
        update_manifest(export_to, entry)
        click.echo(f"exported {entry['id']} to {export_to}", err=True)
    click.echo(f"checkpoint: {out_dir / 'checkpoint.pt'}  (host {platform.node()}, {torch.get_num_threads()} threads)",
               err=True)


if __name__ == "__main__":
    train_command()

"""Render the offline labelled benchmark (issue 9): scores from music21's corpus, two GM soundfonts.

    python benchmarks/labelled/render.py data/labelled [--per-class N] [--jobs 2]

Needs the ``labelled`` extra (``pip install -e '.[labelled]'``) plus ``pip install --no-deps
tinysoundfont`` and a second soundfont: ``apt-get install fluid-soundfont-gm``
(/usr/share/sounds/sf2/FluidR3_GM.sf2). The first soundfont, TimGM6mb, ships inside pretty_midi.

Tasks (labels from the corpus itself):

- ``dance``: reel / jig / hornpipe / slip jig, from the ``R:`` field of O'Neill's 1850 (ABC);
  "double jig" counts as jig.
- ``region``: Essen folksongs, Chinese (han1, han2) vs German (altdeu, ballad, boehme, dva, erk,
  fink, kinder, zuccal).
- ``composer``: Bach chorales / Palestrina mass movements / Monteverdi madrigals / Trecento pieces,
  two clips per piece (start and middle) where the piece is long enough.
- ``instrument``: GM program family the tune is rendered with (piano, chromatic percussion, organ,
  guitar, strings without timpani, brass, reed, pipe), a random program inside the family; tunes
  from Ryan's Mammoth Collection.
- ``key``: major vs minor from the ``K:`` field of O'Neill's 1850 (G D A C F Bb Eb vs Em Gm Am Dm
  Bm Cm F#m; modal keys left out).

Outside the instrument task the program is drawn per tune from a small pool, independent of the
label (melodies: piano, accordion, nylon guitar, violin, clarinet, flute; polyphony: piano, church
organ, string ensemble, choir), so timbre is no cue. Tempo is the score's (music21's 120 quarter
notes a minute when it gives none) times a random factor in [0.9, 1.1]; velocities 70-110.

Each clip is 10 s of mono 44.1 kHz audio from the first note (shorter tunes are looped), scaled to
-20 dBFS RMS (peak kept under 0.99), written as 16-bit FLAC once per soundfont. Groups (tunes; a
Bach chorale number with its variants; a Palestrina mass number; an Essen title with its variants)
are split 60/40 train/test per label; evaluate.py trains on one soundfont and tests on the other.
Renders are cached: a rerun renders only what is missing. Writes ``OUT/manifest.csv``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import re
import sys
import time
import warnings
from dataclasses import dataclass, field
from multiprocessing import Pool
from pathlib import Path

import numpy as np

SR = 44100
CLIP_S = 10.0
SOUNDFONTS = {
    "timgm6mb": None,  # resolved from pretty_midi's package folder
    "fluidr3": "/usr/share/sounds/sf2/FluidR3_GM.sf2",
}
MELODY_POOL = [0, 21, 24, 40, 71, 73]
POLY_POOL = [0, 19, 48, 52]
FAMILIES = {
    "piano": range(0, 8),
    "chromatic_perc": range(8, 16),
    "organ": range(16, 24),
    "guitar": range(24, 32),
    "strings": [p for p in range(40, 48) if p != 47],  # no timpani
    "brass": range(56, 64),
    "reed": range(64, 72),
    "pipe": range(72, 80),
}
ESSEN_GERMAN = ["altdeu10", "altdeu20", "ballad10", "ballad20", "ballad30", "ballad40", "ballad50",
                "ballad60", "ballad70", "ballad80", "boehme10", "boehme20", "dva0", "erk10", "erk20",
                "erk30", "erk5", "fink0", "kinder0", "zuccal0"]
MAJOR = {"G", "D", "A", "C", "F", "Bb", "Eb"}
MINOR = {"Em", "Gm", "Am", "Dm", "Bm", "Cm", "F#m"}


@dataclass
class Item:
    task: str
    label: str
    group: str
    source: str  # corpus-relative path, with "#X" for one tune of an ABC collection
    clips: int = 1
    program: int = 0
    tempo: float = 1.0
    seed: int = 0
    split: str = ""
    ids: list[str] = field(default_factory=list)


def corpus_dir() -> Path:
    import music21

    return Path(music21.__file__).parent / "corpus"


def soundfont_paths() -> dict[str, str]:
    import pretty_midi

    out = dict(SOUNDFONTS)
    out["timgm6mb"] = str(Path(pretty_midi.__file__).parent / "TimGM6mb.sf2")
    for name, p in out.items():
        if not p or not Path(p).exists():
            sys.exit(f"render.py: soundfont {name} not found at {p} (see the module docstring)")
    return out  # type: ignore[return-value]


def abc_tunes(path: Path) -> list[tuple[str, dict[str, str]]]:
    """(number, headers) for each tune of an ABC collection."""
    text = path.read_text(encoding="latin-1")
    out = []
    for chunk in re.split(r"\n(?=X:)", "\n" + text):
        if not chunk.strip().startswith("X:"):
            continue
        head: dict[str, str] = {}
        for line in chunk.splitlines():
            m = re.match(r"^([A-Z]):\s*(.*)$", line)
            if m and m.group(1) not in head:
                head[m.group(1)] = m.group(2).strip()
            if line.startswith("K:"):
                break
        out.append((head.get("X", "").strip(), head))
    return out


def abc_text(path: Path, number: str) -> str:
    text = path.read_text(encoding="latin-1")
    for chunk in re.split(r"\n(?=X:)", "\n" + text):
        m = re.match(r"\s*X:\s*(\S+)", chunk)
        if m and m.group(1) == number:
            return chunk.strip() + "\n"
    raise KeyError(f"{path}#{number}")


def norm_title(t: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", t.lower()).strip()


def candidates(root: Path) -> dict[str, list[Item]]:
    tasks: dict[str, list[Item]] = {k: [] for k in ("dance", "region", "composer", "instrument", "key")}
    dance = {"reel": "reel", "jig": "jig", "double jig": "jig", "hornpipe": "hornpipe",
             "slipjig": "slip_jig", "slip jig": "slip_jig"}
    for f in sorted((root / "oneills1850").glob("*.abc")):
        for num, h in abc_tunes(f):
            src = f"oneills1850/{f.name}#{num}"
            group = "oneill:" + norm_title(h.get("T", src))
            r = h.get("R", "").lower().strip()
            if r in dance:
                tasks["dance"].append(Item("dance", dance[r], group, src))
            k = h.get("K", "").replace(" ", "")
            if k in MAJOR or k in MINOR:
                tasks["key"].append(Item("key", "major" if k in MAJOR else "minor", group, src))
    for name, label in [("han1", "chinese"), ("han2", "chinese")] + [(g, "german") for g in ESSEN_GERMAN]:
        f = root / "essenFolksong" / f"{name}.abc"
        for num, h in abc_tunes(f):
            tasks["region"].append(Item("region", label, f"essen:{label}:" + norm_title(h.get("T", num)),
                                        f"essenFolksong/{f.name}#{num}"))
    for f in sorted((root / "bach").glob("bwv*.mxl")):
        m = re.match(r"bwv(\d+)", f.name)
        tasks["composer"].append(Item("composer", "bach", f"bach:{m.group(1) if m else f.name}", f"bach/{f.name}", 2))
    for f in sorted((root / "palestrina").glob("*.krn")):
        m = re.search(r"_(\d+)\.krn$", f.name)
        tasks["composer"].append(Item("composer", "palestrina", f"palestrina:{m.group(1) if m else f.name}",
                                      f"palestrina/{f.name}", 2))
    for f in sorted((root / "monteverdi").glob("*.mxl")):
        tasks["composer"].append(Item("composer", "monteverdi", f"monteverdi:{f.stem}", f"monteverdi/{f.name}", 2))
    for f in sorted((root / "trecento").glob("*.xml")):
        tasks["composer"].append(Item("composer", "trecento", f"trecento:{f.stem}", f"trecento/{f.name}", 2))
    fams = list(FAMILIES)
    for i, f in enumerate(sorted((root / "ryansMammoth").glob("*.abc"))):
        tunes = abc_tunes(f)
        if tunes:
            tasks["instrument"].append(Item("instrument", fams[i % len(fams)], f"ryan:{f.stem}",
                                            f"ryansMammoth/{f.name}#{tunes[0][0]}"))
    return tasks


def choose(tasks: dict[str, list[Item]], per_class: dict[str, int], seed: int) -> list[Item]:
    """A balanced sample per task (whole groups), a 60/40 group split per label, programs, tempi."""
    rng = random.Random(seed)
    chosen: list[Item] = []
    for task, items in tasks.items():
        if task == "instrument":  # labels are assigned, not found: reshuffle them over tunes
            labels = [it.label for it in items]
            rng.shuffle(labels)
            for it, lab in zip(items, labels, strict=True):
                it.label = lab
        by_label: dict[str, dict[str, list[Item]]] = {}
        for it in items:
            by_label.setdefault(it.label, {}).setdefault(it.group, []).append(it)
        for label in sorted(by_label):
            groups = sorted(by_label[label])
            rng.shuffle(groups)
            picked: list[list[Item]] = []
            n = 0
            for g in groups:
                if n >= per_class[task]:
                    break
                members = by_label[label][g]
                one = [rng.choice(members)]  # one score per group: variants would only repeat it
                picked.append(one)
                n += sum(it.clips for it in one)
            n_test = round(0.4 * len(picked))
            for gi, members in enumerate(picked):
                for it in members:
                    it.split = "test" if gi < n_test else "train"
                    if task == "instrument":
                        it.program = rng.choice(list(FAMILIES[label]))
                    else:
                        it.program = rng.choice(POLY_POOL if task == "composer" else MELODY_POOL)
                    it.tempo = rng.uniform(0.9, 1.1)
                    it.seed = rng.randrange(1 << 30)
                    chosen.append(it)
    return chosen


def notes_of(score) -> tuple[list[tuple[float, float, int, int]], float]:  # type: ignore[no-untyped-def]
    """(start s, end s, midi pitch, part) for every sounding pitch, and the score's length in s."""
    bounds = score.metronomeMarkBoundaries()

    def sec(q: float) -> float:
        t = 0.0
        for a, b, mm in bounds:
            spb = mm.secondsPerQuarter()
            if q <= b:
                return t + (q - a) * spb
            t += (b - a) * spb
        return t

    out = []
    parts = list(score.parts) if score.hasPartLikeStreams() else [score]
    for pi, part in enumerate(parts):
        for n in part.stripTies().flatten().notes:
            q0 = float(n.offset)
            q1 = q0 + float(n.quarterLength)
            if q1 <= q0:
                continue
            for p in n.pitches:
                out.append((sec(q0), sec(q1), int(p.midi), pi))
    return sorted(out), sec(float(score.highestTime))


_SYNTHS: dict[str, tuple] = {}


def _synth(sf_path: str) -> tuple:  # type: ignore[type-arg]
    """One loaded synthesizer per soundfont and process, silenced between clips."""
    import tinysoundfont

    if sf_path not in _SYNTHS:
        syn = tinysoundfont.Synth(samplerate=SR)
        _SYNTHS[sf_path] = (syn, syn.sfload(sf_path))
    syn, sid = _SYNTHS[sf_path]
    for c in range(16):
        syn.sounds_off(c)
        syn.control_change(c, 121, 0)  # reset controllers
    syn.generate(SR // 10)
    return syn, sid


def synth(notes: list[tuple[float, float, int, int]], end: float, sf_path: str, program: int,
          seed: int) -> np.ndarray:
    syn, sid = _synth(sf_path)
    chans = sorted({n[3] for n in notes})
    for c in chans:
        syn.program_select(c % 9, sid, 0, program)  # channel 9 is drums in GM: never used
    rng = np.random.default_rng(seed)
    ev = []
    for (t0, t1, pitch, part) in notes:
        if t0 >= end:
            continue
        vel = int(rng.integers(70, 111))
        ev.append((t0, 1, part % 9, pitch, vel))
        ev.append((max(t0 + 0.01, t1 - 0.005), 0, part % 9, pitch, 0))
    ev.sort(key=lambda e: (e[0], e[1]))
    total = int(round(end * SR))
    out = np.zeros((total, 2), np.float32)
    pos = 0
    for (t, on, ch, pitch, vel) in ev:
        s = min(total, int(round(t * SR)))
        if s > pos:
            out[pos:s] = np.frombuffer(syn.generate(s - pos), np.float32).reshape(-1, 2)
            pos = s
        if on:
            syn.noteon(ch, pitch, vel)
        else:
            syn.noteoff(ch, pitch)
    if pos < total:
        out[pos:] = np.frombuffer(syn.generate(total - pos), np.float32).reshape(-1, 2)
    return out.mean(axis=1)


def level(x: np.ndarray) -> np.ndarray:
    rms = float(np.sqrt(np.mean(x.astype(np.float64) ** 2)))
    if rms < 1e-6:
        raise ValueError("silent clip")
    g = 10 ** (-20 / 20) / rms
    peak = float(np.max(np.abs(x))) * g
    if peak > 0.99:
        g *= 0.99 / peak
    return (x * g).astype(np.float32)


_SF: dict[str, str] = {}
_ROOT: Path = Path()
_OUT: Path = Path()


def _init(sf: dict[str, str], root: Path, out: Path) -> None:
    global _SF, _ROOT, _OUT
    _SF, _ROOT, _OUT = sf, root, out
    warnings.filterwarnings("ignore")


def clip_ids(it: Item) -> list[str]:
    base = re.sub(r"[^A-Za-z0-9]+", "_", it.source).strip("_")
    return [f"{it.task}/{base}_{c}" for c in range(it.clips)]


def render_item(it: Item) -> tuple[Item, list[tuple[str, float]], str]:
    """Render the item's clips with every soundfont; returns (item, [(clip id, start s)], error)."""
    import soundfile as sf
    from music21 import converter

    ids = clip_ids(it)
    side = _OUT / "audio" / f"{ids[0][:-2]}.json"
    if side.exists():
        done = [(c, float(s)) for c, s in json.loads(side.read_text())]
        if all((_OUT / "audio" / f"{c}.{name}.flac").exists() for c, _ in done for name in _SF):
            return it, done, ""
    try:
        path, _, num = it.source.partition("#")
        if num:
            score = converter.parse(abc_text(_ROOT / path, num), format="abc")
        else:
            score = converter.parse(str(_ROOT / path))
        notes, length = notes_of(score)
        if not notes:
            return it, [], "no notes"
        notes = [(a / it.tempo, b / it.tempo, p, c) for a, b, p, c in notes]
        length = max(length / it.tempo, max(n[1] for n in notes))
        first = notes[0][0]
        starts = [first]
        if it.clips > 1 and length - first >= 2 * CLIP_S + 1:
            mid = first + (length - first) / 2
            starts.append(min(n[0] for n in notes if n[0] >= mid - 1e-9))
        # loop short tunes until the first clip is full
        span = length
        reps = 1
        while length * reps - first < CLIP_S + 0.5:
            reps += 1
        if reps > 1:
            notes = [(a + r * span, b + r * span, p, c) for r in range(reps) for a, b, p, c in notes]
        end = max(s for s in starts) + CLIP_S
        done = []
        for name, sf_path in _SF.items():
            audio = synth(notes, end + 0.5, sf_path, it.program, it.seed)
            for cid, s0 in zip(ids, starts, strict=False):
                a = int(round(s0 * SR))
                clip = level(audio[a:a + int(CLIP_S * SR)])
                dest = _OUT / "audio" / f"{cid}.{name}.flac"
                dest.parent.mkdir(parents=True, exist_ok=True)
                tmp = dest.with_suffix(".tmp.flac")
                sf.write(tmp, clip, SR, subtype="PCM_16")
                os.replace(tmp, dest)
        done = list(zip(ids, starts, strict=False))
        side.write_text(json.dumps(done))
        return it, done, ""
    except Exception as exc:  # noqa: BLE001 - a score music21 cannot read is skipped and counted
        return it, [], f"{type(exc).__name__}: {str(exc)[:120]}"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--per-class", type=int, default=None, help="clips per label (default: per task)")
    ap.add_argument("--tasks", default="dance,region,composer,instrument,key")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=9)
    args = ap.parse_args(argv)

    root = corpus_dir()
    sfs = soundfont_paths()
    per_class = {"dance": 80, "region": 120, "composer": 100, "instrument": 40, "key": 120}
    if args.per_class:
        per_class = dict.fromkeys(per_class, args.per_class)
    wanted = set(args.tasks.split(","))
    items = [it for it in choose(candidates(root), per_class, args.seed) if it.task in wanted]
    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    rows = []
    errors: dict[str, int] = {}
    with Pool(args.jobs, initializer=_init, initargs=(sfs, root, args.out)) as pool:
        for i, (it, done, err) in enumerate(pool.imap_unordered(render_item, items, chunksize=2)):
            if err:
                errors[it.task] = errors.get(it.task, 0) + 1
                print(f"skip {it.source}: {err}", file=sys.stderr)
            for cid, start in done:
                for name in sfs:
                    rows.append({"clip": cid, "task": it.task, "label": it.label, "group": it.group,
                                 "split": it.split, "soundfont": name, "program": it.program,
                                 "tempo": round(it.tempo, 4), "source": it.source,
                                 "start_s": round(start, 3),
                                 "path": f"audio/{cid}.{name}.flac"})
            if (i + 1) % 100 == 0:
                print(f"{i + 1}/{len(items)} scores, {time.time() - t0:.0f} s", file=sys.stderr)
    rows.sort(key=lambda r: (r["task"], r["clip"], r["soundfont"]))
    with open(args.out / "manifest.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    counts: dict[tuple[str, str, str], int] = {}
    for r in rows:
        if r["soundfont"] == "timgm6mb":
            k = (r["task"], r["split"], r["label"])
            counts[k] = counts.get(k, 0) + 1
    for k in sorted(counts):
        print(f"{k[0]:10s} {k[1]:5s} {k[2]:15s} {counts[k]}")
    print(f"{len(rows)} clip renders from {len(items)} scores in {time.time() - t0:.0f} s; "
          f"skipped: {errors or 'none'}")


if __name__ == "__main__":
    main()

"""``muzip embed``, ``muzip similar`` and ``muzip classify``: the click commands (lazy, see cli.py).

Parsing, file expansion and rendering only: vectors come from :mod:`neuralcodec.embedding`, search
from :mod:`.index`, the classifier from :mod:`.classifier`. Every user error is one line
(:class:`MuzipError`, exit 1); no output file appears unless the command succeeded in writing it
(``check_output`` before the work, ``atomic_output`` for the write).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..errors import MuzipError

if TYPE_CHECKING:
    import numpy as np

    from ..embedding.table import Embedding, EmbeddingTable

TABLE_EXTS = {".parquet"}
EMBED_CHUNK = 16  # files per embed_files call (the progress bar moves between calls)

_segments_option = click.option(
    "--segments", type=click.FloatRange(0, min_open=True), default=None, metavar="SECONDS",
    help="One vector per SECONDS-long segment instead of one per file.")
_bitrate_option = click.option(
    "-b", "--bitrate", default=None,
    help="Rate at which audio inputs are coded on the fly (.mzp files keep their own).  [default: 16k]")
_pitch_option = click.option(
    "--pitch", is_flag=True,
    help="Append pitch-class statistics of the coded coefficients (mdct files; better for key and melody "
         "tasks, ~10x slower than the envelope alone).")
_head_option = click.option(
    "--head", default=None, metavar="auto|none|PATH",
    help="Projection head after pooling: auto (the one shipped for the model, if any), none, or a head file.")


def _console():  # type: ignore[no-untyped-def]
    from ..cli import err

    return err


def _note(msg: str, quiet: bool) -> None:
    if not quiet:
        _console().print(msg, markup=False, soft_wrap=True)


# -- inputs --------------------------------------------------------------------------------------------


def expand_inputs(paths: Sequence[str], tables: bool = False) -> tuple[list[str], list[str], list[tuple[str, str]]]:
    """PATHS -> (media files, embedding tables, failures). Folders give their .mzp and audio files
    (recursively, hidden ones skipped); with ``tables``, ``.parquet`` files are embedding tables."""
    from ..batch import AUDIO_EXTS, MZP_EXTS, plan

    media: list[str] = []
    found_tables: list[str] = []
    failed: list[tuple[str, str]] = []
    direct = []
    for raw in paths:
        if raw == "-":
            raise click.UsageError("'-' (stdin) is not supported here: give files or folders")
        if tables and Path(raw).suffix.lower() in TABLE_EXTS and not Path(raw).is_dir():
            found_tables.append(raw)
        else:
            direct.append(raw)
    for job in plan(direct, None, ".embed", AUDIO_EXTS | MZP_EXTS, outputs=False):
        if job.error:
            failed.append((job.label, job.error))
        else:
            media.append(str(job.src))
    return media, found_tables, failed


def _space_parts(space: str) -> tuple[str, str, bool]:
    """(base model id, head spec that reproduces the space: "none" or "auto", pitch block or not)."""
    from ..embedding.pooling import PITCH

    pitch = space.endswith(f"+{PITCH}")
    parts = (space[: -len(PITCH) - 1] if pitch else space).split("/")
    return parts[0], ("none" if len(parts) <= 2 else "auto"), pitch


def embed_paths(files: Sequence[str], *, segments: float | None, bitrate: str, model: str, head: str,
                failed: list[tuple[str, str]], quiet: bool, label: str = "embed", pitch: bool = False) -> list[Embedding]:
    """Rows for ``files`` (bad ones appended to ``failed``); refuses a mix of spaces in one line."""
    from ..cli import _progress
    from ..embedding.embed import embed_files

    rows: list[Embedding] = []
    first: tuple[str, str] | None = None
    with _progress(label, quiet) as prog:
        for lo in range(0, len(files), EMBED_CHUNK):
            got = embed_files(files[lo:lo + EMBED_CHUNK], segments=segments, bitrate=bitrate, model=model,
                              head=head, on_error=lambda p, m: failed.append((p, m)), pitch=pitch)
            if got:
                if first is None:
                    first = (got[0].path, got[0].space)
                bad = next((r for r in got if r.space != first[1]), None)
                if bad is not None:
                    raise MuzipError(f"vectors from different models cannot be mixed: {first[0]} is {first[1]}, "
                                     f"{bad.path} is {bad.space} (embed them into separate tables)")
            rows.extend(got)
            if prog is not None:
                prog(min(lo + EMBED_CHUNK, len(files)), len(files))
    return rows


def _report_failures(failed: list[tuple[str, str]], total: int) -> None:
    if failed:
        click.echo(f"muzip: {len(failed)} of {total} inputs failed:", err=True)
        for path, msg in failed:
            msg = msg[len(path) + 2:] if msg.startswith(f"{path}: ") else msg
            click.echo(f"  {path}: {msg}", err=True)


def _table_module():  # type: ignore[no-untyped-def]
    """The table module, after checking pyarrow is importable (one line, before any work)."""
    from ..embedding import table

    table._pyarrow()
    return table


# -- embed ---------------------------------------------------------------------------------------------


@click.command("embed")
@click.argument("paths", nargs=-1, required=True)
@click.option("-o", "--output", "dst", required=True, help="The embedding table to write (Parquet), e.g. library.parquet.")
@_segments_option
@_bitrate_option
@click.option("-m", "--model", default="mdct", show_default=True,
              help="Model that codes audio inputs (family or id); .mzp files use their own.")
@_head_option
@_pitch_option
@click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="Where files are embedded: this process, or Ray actors (pip install 'muzip[ray]').")
@click.option("--address", default=None, metavar="ADDR",
              help="With --engine ray: join this cluster (auto, HOST:6379, ray://HOST:10001); default: a local Ray.")
@click.option("--jobs", type=click.IntRange(1), default=None, help="With --engine ray: actors (default: one per CPU).")
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary on stdout.")
@click.option("-f", "--force", is_flag=True, help="Overwrite an existing output.")
@click.option("-q", "--quiet", is_flag=True, help="No progress or summary (failures are still named).")
def embed_command(paths: tuple[str, ...], dst: str, segments: float | None, bitrate: str | None, model: str,
                  head: str | None, pitch: bool, engine: str, address: str | None, jobs: int | None,
                  as_json: bool, force: bool, quiet: bool) -> None:
    """Embed .mzp and audio files (folders: recursively) into a Parquet table of unit vectors.

    One row per file (path, start, duration, model, bitrate, vector), or one per segment with
    --segments. .mzp files are read without decoding audio. Files that fail are named and left
    out; the exit status is then 1.
    """
    from ..safeio import check_output

    table = _table_module()
    check_output(dst, force)
    t0 = time.perf_counter()
    files, _, failed = expand_inputs(paths)
    if engine == "ray":
        from ..embedding.table import check_space
        from ..engines.ray_embed import embed_on_ray

        options = {"segments": segments, "bitrate": bitrate or "16k", "model": model, "head": head or "auto",
                   "pitch": pitch}
        rows, bad = embed_on_ray(files, options, address, jobs)
        failed += bad
        if rows:
            check_space(rows)
    else:
        if address or jobs:
            raise click.UsageError("--address and --jobs go with --engine ray")
        rows = embed_paths(files, segments=segments, bitrate=bitrate or "16k", model=model, head=head or "auto",
                           failed=failed, quiet=quiet, pitch=pitch)
    named = set(files)
    total = len(files) + sum(1 for p, _ in failed if p not in named)
    if not rows:
        _report_failures(failed, total)
        raise MuzipError(f"no embeddings written: none of the {total} inputs gave a vector")
    n = table.write_table(rows, dst, segments=segments is not None)
    wall = time.perf_counter() - t0
    done = len({r.path for r in rows})
    if as_json:
        click.echo(json.dumps({"output": dst, "rows": n, "files": done, "failed": [{"path": p, "message": m} for p, m in failed],
                               "space": rows[0].space, "dim": int(rows[0].vector.shape[-1]),
                               "audio_seconds": sum(r.duration for r in rows), "seconds": wall}, indent=1))
    audio = sum(r.duration for r in rows)
    _note(f"{done} files -> {n} rows of {rows[0].vector.shape[-1]} dims ({rows[0].space}) in {dst}; "
          f"{audio:.1f} s of audio in {wall:.2f} s ({audio / max(wall, 1e-9):.0f}x realtime)"
          + (f"; {len(failed)} failed" if failed else ""), quiet)
    _report_failures(failed, total)
    if failed:
        sys.exit(1)


# -- similar -------------------------------------------------------------------------------------------


def _row_dict(t: EmbeddingTable, i: int) -> dict[str, Any]:
    return {"row": int(i), "path": t.paths[i], "start": float(t.starts[i]), "duration": float(t.durations[i])}


def _same_file(t: EmbeddingTable, path: str) -> np.ndarray:
    import numpy as np

    key = os.path.normpath(os.path.abspath(path))
    return np.array([i for i, p in enumerate(t.paths) if os.path.normpath(os.path.abspath(p)) == key], np.int64)


@click.command("similar")
@click.argument("query", required=False)
@click.option("--index", "index_path", required=True, help="An embedding table written by `muzip embed`.")
@click.option("-k", "k", type=int, default=10, show_default=True, help="Neighbours to list.")
@click.option("--row", type=int, default=None, help="Query with row N of the index (0-based) instead of a file.")
@_segments_option
@_bitrate_option
@_head_option
@click.option("--other-files", is_flag=True, help="Leave out rows of the query's own file (e.g. its other segments).")
@click.option("--backend", type=click.Choice(["auto", "exact", "usearch"]), default="auto", show_default=True,
              help="exact: numpy, every vector scored; usearch: approximate HNSW (pip install \"muzip[ann]\"); "
                   "auto: exact below 1M vectors.")
@click.option("--ann-cache", default=None, metavar="FILE",
              help="usearch: load the graph from FILE, or build it and save it there (it is checked against the index).")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
def similar_command(query: str | None, index_path: str, k: int, row: int | None, segments: float | None,
                    bitrate: str | None, head: str | None, other_files: bool, backend: str, ann_cache: str | None,
                    as_json: bool) -> None:
    """List the files (or segments) of an index most similar to QUERY, by cosine of their vectors.

    QUERY is an .mzp or audio file, embedded on the fly like the index (same model, pooling and
    head; another model's file is refused). With --segments each query segment is searched.
    """
    import numpy as np

    from .index import VectorIndex, check_k

    if (query is None) == (row is None):
        raise click.UsageError("give a QUERY file or --row N (one of them)")
    check_k(k)
    table = _table_module().read_table(index_path)
    index = VectorIndex.from_table(table, backend=backend, ann_cache=ann_cache)
    if row is not None:
        if not 0 <= row < len(table):
            raise MuzipError(f"--row {row}: the index has rows 0..{len(table) - 1}")
        queries = table.vectors[row:row + 1]
        qinfo = [_row_dict(table, row)]
        own = _same_file(table, table.paths[row]) if other_files else np.array([row], np.int64)
        exclude = [np.union1d(own, [row])]
        space = table.space
    else:
        assert query is not None
        model, auto_head, pitch = _space_parts(table.space)
        kbps = float(np.median(table.kbps))
        rows = _embed_query(query, segments=segments, bitrate=bitrate or f"{kbps:g}k", model=model,
                            head=head or auto_head, pitch=pitch)
        space = rows[0].space
        if space != table.space:
            raise MuzipError(f"{query}: its vectors are in embedding space {space}, but {index_path} holds "
                             f"{table.space} (vectors of different models, poolings or heads cannot be compared)")
        queries = np.stack([r.vector for r in rows])
        qinfo = [{"path": r.path, "start": r.start, "duration": r.duration} for r in rows]
        own = _same_file(table, query) if other_files else np.zeros(0, np.int64)
        exclude = [own] * len(rows)
    hits = index.search(queries, k, space=space, exclude=exclude)
    results = []
    for qi, info in enumerate(qinfo):
        found = [dict(_row_dict(table, int(i)), rank=r + 1, score=float(s))
                 for r, (i, s) in enumerate(zip(hits.indices[qi], hits.scores[qi], strict=True)) if np.isfinite(s)]
        results.append({"query": info, "neighbours": found})
    if as_json:
        click.echo(json.dumps({"index": index_path, "space": table.space, "rows": len(table),
                               "backend": index.backend, "k": k, "results": results}, indent=1))
        return
    for res in results:
        q = res["query"]
        if len(results) > 1 or table.segments:
            click.echo(f"# {q['path']} @ {q['start']:.1f} s")
        for n in res["neighbours"]:
            click.echo(f"{n['rank']:>3}  {n['score']:.4f}  {n['start']:>8.1f}  {n['path']}")


def _embed_query(query: str, **kw: Any) -> list[Embedding]:
    from ..embedding.embed import embed_files

    p = Path(query)
    if p.is_dir():
        raise MuzipError(f"{query}: is a directory (the query is one file)")
    rows = embed_files([query], **kw)
    if not rows:
        raise MuzipError(f"{query}: gave no vector")
    return rows


# -- classify ------------------------------------------------------------------------------------------


@click.group("classify", context_settings={"help_option_names": ["-h", "--help"]})
def classify_group() -> None:
    """Train a classifier on labelled files, or label new files with one."""


def _gather(data: Sequence[str], segments: float | None, bitrate: str | None, model: str, head: str,
            quiet: bool, space: str | None = None, pitch: bool = False) -> tuple[list[str], list[float], np.ndarray, str, list[tuple[str, str]], int]:
    """Vectors of DATA (media files, folders, embedding tables): paths, starts, [n, dim], space, failures, inputs."""
    import numpy as np

    files, tables, failed = expand_inputs(data, tables=True)
    if tables:
        _table_module()
    paths: list[str] = []
    starts: list[float] = []
    blocks: list[np.ndarray] = []
    spaces: list[tuple[str, str]] = []
    for t_path in tables:
        t = _table_module().read_table(t_path)
        paths += t.paths
        starts += t.starts.tolist()
        blocks.append(t.vectors)
        spaces.append((t_path, t.space))
    if files:
        rows = embed_paths(files, segments=segments, bitrate=bitrate or "16k", model=model, head=head,
                           failed=failed, quiet=quiet, pitch=pitch)
        if rows:
            paths += [r.path for r in rows]
            starts += [r.start for r in rows]
            blocks.append(np.stack([r.vector for r in rows]))
            spaces.append((rows[0].path, rows[0].space))
    if space is not None:
        for where, s in spaces:
            if s != space:
                raise MuzipError(f"{where}: its vectors are in embedding space {s}, but the classifier was "
                                 f"trained on {space} (embed with the same model and head)")
    elif len({s for _, s in spaces}) > 1:
        (a, sa), (b, sb) = next((x, y) for x in spaces for y in spaces if x[1] != y[1])
        raise MuzipError(f"vectors from different models cannot be mixed: {a} is {sa}, {b} is {sb}")
    named = set(files)
    total = len(files) + len(tables) + sum(1 for p, _ in failed if p not in named)
    if not blocks:
        _report_failures(failed, total)
        raise MuzipError(f"no vectors: none of the {total} inputs gave one")
    return paths, starts, np.concatenate(blocks), spaces[0][1], failed, total


@classify_group.command("train")
@click.argument("data", nargs=-1, required=True)
@click.option("-o", "--output", "dst", required=True, help="Classifier file to write (.npz).")
@click.option("--labels", "labels_csv", default=None, metavar="CSV",
              help="Labels from a CSV (path,label) or an FMA tracks.csv (track.genre_top) instead of the "
                   "parent folder names.")
@_segments_option
@_bitrate_option
@click.option("-m", "--model", default="mdct", show_default=True, help="Model that codes audio inputs (family or id).")
@click.option("--head", default=None, metavar="auto|none|PATH",
              help="Projection head after pooling (default none: the head is fitted for similarity and loses "
                   "timbre; benchmarks/results/labelled.md).")
@_pitch_option
@click.option("--l2", type=click.FloatRange(0), default=1e-2, show_default=True,
              help="L2 penalty on the weights (features are standardised first).")
@click.option("--folds", type=click.IntRange(0), default=5, show_default=True,
              help="Cross-validation folds reported before the final fit (0: none).")
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary on stdout.")
@click.option("-f", "--force", is_flag=True, help="Overwrite an existing output.")
@click.option("-q", "--quiet", is_flag=True, help="No progress or summary (failures are still named).")
def train_command(data: tuple[str, ...], dst: str, labels_csv: str | None, segments: float | None,
                  bitrate: str | None, model: str, head: str | None, pitch: bool, l2: float, folds: int, as_json: bool,
                  force: bool, quiet: bool) -> None:
    """Train a linear classifier on DATA: labelled .mzp/audio files, folders, or embedding tables (.parquet).

    Labels are the parent folder's name (genre/track.mzp), or come from --labels. Files without a
    label are left out (and counted). Cross-validated accuracy (files of one track never split
    between training and test) is reported with the majority-class line.
    """
    import numpy as np

    from ..safeio import check_output
    from .classifier import LinearClassifier, cross_validate
    from .labels import folder_labels, read_labels

    check_output(dst, force)
    labelmap = read_labels(labels_csv) if labels_csv else folder_labels()
    paths, _, X, space, failed, total = _gather(data, segments, bitrate, model, head or "none", quiet, pitch=pitch)
    labels = [labelmap.label_of(p) for p in paths]
    keep = np.array([lab is not None for lab in labels])
    unlabelled = sorted({p for p, lab in zip(paths, labels, strict=True) if lab is None})
    X = X[keep]
    y = [lab for lab in labels if lab is not None]
    groups = [p for p, k in zip(paths, keep, strict=True) if k]
    if len(set(y)) < 2:
        _report_failures(failed, total)
        raise MuzipError(f"a classifier needs at least two labels; found {sorted(set(y)) or 'none'} in "
                         f"{len(set(groups))} labelled files, {len(unlabelled)} without a label "
                         f"(labels come from {labelmap.source})")
    if unlabelled:
        _note(f"{len(unlabelled)} files have no label in {labelmap.source} and are left out "
              f"(e.g. {unlabelled[0]})", quiet)
    counts = {lab: len({g for g, yy in zip(groups, y, strict=True) if yy == lab}) for lab in set(y)}
    cv = None
    k = min(folds, min(counts.values()))
    if k >= 2:
        cv = cross_validate(X, y, k=k, l2=l2, groups=groups)
    elif folds:
        _note(f"no cross-validation: a label has only {min(counts.values())} file(s) "
              f"(each needs at least 2)", quiet)
    clf = LinearClassifier(l2=l2, space=space).fit(X, y)
    clf.save(dst)
    train_acc = float(np.mean(np.array(clf.predict(X)) == np.array(y)))
    summary = {"output": dst, "space": space, "labels": {lab: counts[lab] for lab in sorted(counts)},
               "rows": len(y), "files": len(set(groups)), "train_accuracy": train_acc,
               "cv": cv, "unlabelled": len(unlabelled), "failed": [{"path": p, "message": m} for p, m in failed]}
    if as_json:
        click.echo(json.dumps(summary, indent=1))
    if cv is not None:
        _note(f"{cv['folds']}-fold cross-validation: accuracy {cv['accuracy']:.3f} over {cv['tested']} "
              f"{'segments' if segments else 'rows'} (majority class {cv['majority']:.3f})", quiet)
    _note(f"{len(set(groups))} files, {len(y)} rows, {len(counts)} labels "
          f"({', '.join(f'{lab} {counts[lab]}' for lab in sorted(counts))}); training accuracy {train_acc:.3f}; "
          f"wrote {dst}", quiet)
    _report_failures(failed, total)
    if failed:
        sys.exit(1)


@classify_group.command("predict")
@click.argument("files", nargs=-1, required=True)
@click.option("--classifier", "clf_path", required=True, help="A classifier written by `muzip classify train`.")
@_segments_option
@_bitrate_option
@_head_option
@click.option("--json", "as_json", is_flag=True, help="Print the predictions as JSON (with every label's probability).")
@click.option("-q", "--quiet", is_flag=True, help="No progress (failures are still named).")
def predict_command(files: tuple[str, ...], clf_path: str, segments: float | None, bitrate: str | None,
                    head: str | None, as_json: bool, quiet: bool) -> None:
    """Label FILES (.mzp/audio files, folders, or embedding tables) with a trained classifier.

    Prints "label  probability  path" per file; with --segments (or a segment table) the
    probabilities of a file's segments are averaged.
    """
    import numpy as np

    from .classifier import LinearClassifier

    clf = LinearClassifier.load(clf_path)
    model, auto_head, pitch = _space_parts(clf.space) if clf.space else ("mdct", "none", False)
    paths, _, X, _, failed, total = _gather(files, segments, bitrate, model, head or auto_head, quiet, space=clf.space,
                                            pitch=pitch)
    proba = clf.predict_proba(X)
    order: dict[str, list[int]] = {}
    for i, p in enumerate(paths):
        order.setdefault(p, []).append(i)
    out = []
    for p, idx in order.items():
        mean = proba[idx].mean(axis=0)
        best = int(np.argmax(mean))
        out.append({"path": p, "label": clf.labels[best], "probability": float(mean[best]), "rows": len(idx),
                    "probabilities": {lab: float(v) for lab, v in zip(clf.labels, mean, strict=True)}})
    if as_json:
        click.echo(json.dumps({"classifier": clf_path, "space": clf.space, "predictions": out,
                               "failed": [{"path": p, "message": m} for p, m in failed]}, indent=1))
    else:
        width = max(len(lab) for lab in clf.labels)
        for r in out:
            click.echo(f"{r['label']:<{width}}  {r['probability']:.3f}  {r['path']}")
    _report_failures(failed, total)
    if failed:
        sys.exit(1)

"""A linear classifier on embedding vectors: multinomial logistic regression in numpy.

Features are standardised (mean and scale from the training set), the weights carry an L2 penalty
(the bias does not), and the fit is full-batch L-BFGS from zero weights: the same data give the
same classifier, bit for bit on one machine. No torch, no scikit-learn.

Weights are saved as an ``.npz`` of plain numeric arrays plus one JSON string (labels, embedding
space, settings); :meth:`LinearClassifier.load` reads it with ``allow_pickle=False``, so a
classifier file cannot run code.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ..errors import MuzipError

FORMAT = "muzip-linear-classifier"
VERSION = 1
_ARRAYS = ("mean", "scale", "coef", "intercept")


def _as_matrix(X: np.ndarray, what: str = "X") -> np.ndarray:
    X = np.asarray(X)
    if X.ndim != 2:
        raise MuzipError(f"{what} must be a 2-D array [n, dim], got shape {X.shape}")
    if X.shape[0] == 0:
        raise MuzipError(f"{what} has no rows")
    X = X.astype(np.float64, copy=False)
    if not np.isfinite(X).all():
        raise MuzipError(f"{what} holds non-finite values")
    return X


def _lbfgs(fun: Callable[[np.ndarray], tuple[float, np.ndarray]], x0: np.ndarray, max_iter: int,
           tol: float, memory: int = 10) -> tuple[np.ndarray, int]:
    """Minimise a smooth convex ``fun`` (value, gradient) by L-BFGS with Armijo backtracking."""
    x = x0.copy()
    fx, g = fun(x)
    S: list[np.ndarray] = []
    Y: list[np.ndarray] = []
    it = 0
    for it in range(1, max_iter + 1):
        if float(np.max(np.abs(g))) < tol:
            break
        q = g.copy()
        hist = []
        for s, y in zip(reversed(S), reversed(Y), strict=True):
            rho = 1.0 / float(y @ s)
            a = rho * float(s @ q)
            q -= a * y
            hist.append((rho, a))
        gamma = float(S[-1] @ Y[-1]) / float(Y[-1] @ Y[-1]) if S else 1.0 / max(float(np.linalg.norm(g)), 1.0)
        r = gamma * q
        for (s, y), (rho, a) in zip(zip(S, Y, strict=True), reversed(hist), strict=True):
            r += s * (a - rho * float(y @ r))
        d = -r
        gd = float(g @ d)
        if gd >= 0:  # not a descent direction (numerical trouble): restart from steepest descent
            S.clear()
            Y.clear()
            d, gd = -g, -float(g @ g)
        t = 1.0
        while True:
            xn = x + t * d
            fn, gn = fun(xn)
            if fn <= fx + 1e-4 * t * gd:
                break
            t *= 0.5
            if t < 1e-12:
                return x, it
        s, y = xn - x, gn - g
        if float(s @ y) > 1e-12:
            S.append(s)
            Y.append(y)
            if len(S) > memory:
                S.pop(0)
                Y.pop(0)
        done = fx - fn <= tol * max(1.0, abs(fx))
        x, fx, g = xn, fn, gn
        if done:
            break
    return x, it


class LinearClassifier:
    """Multinomial logistic regression with standardised features and an L2 penalty.

    ``l2`` multiplies ``0.5 * ||W||^2`` added to the mean cross-entropy (the bias is not penalised).
    ``space`` names the embedding space the vectors came from; it is saved with the weights, so a
    prediction on vectors of another space can be refused.
    """

    def __init__(self, l2: float = 1e-2, max_iter: int = 500, tol: float = 1e-7, space: str | None = None) -> None:
        if not l2 >= 0:
            raise MuzipError(f"l2 must be >= 0, got {l2}")
        self.l2 = float(l2)
        self.max_iter = int(max_iter)
        self.tol = float(tol)
        self.space = space
        self.labels: list[str] = []
        self.mean: np.ndarray | None = None
        self.scale: np.ndarray | None = None
        self.coef: np.ndarray | None = None  # [dim, classes], on standardised features
        self.intercept: np.ndarray | None = None  # [classes]
        self.n_iter = 0
        self.n_train = 0

    # -- fitting -------------------------------------------------------------------------------------

    def fit(self, X: np.ndarray, y: Sequence[str]) -> LinearClassifier:
        X = _as_matrix(X)
        y = [str(v) for v in y]
        if len(y) != X.shape[0]:
            raise MuzipError(f"{X.shape[0]} vectors but {len(y)} labels")
        labels = sorted(set(y))
        if len(labels) < 2:
            raise MuzipError(f"a classifier needs at least two labels, got {labels}")
        index = {lab: i for i, lab in enumerate(labels)}
        t = np.array([index[v] for v in y])
        n, dim = X.shape
        c = len(labels)
        mean = X.mean(axis=0)
        scale = X.std(axis=0)
        scale = np.where(scale > 1e-8 * max(float(scale.max()), 1e-30), scale, 1.0)
        Xs = (X - mean) / scale
        onehot = np.zeros((n, c))
        onehot[np.arange(n), t] = 1.0
        l2 = self.l2

        def fun(w: np.ndarray) -> tuple[float, np.ndarray]:
            W = w[: dim * c].reshape(dim, c)
            b = w[dim * c:]
            Z = Xs @ W + b
            Z -= Z.max(axis=1, keepdims=True)
            E = np.exp(Z)
            S = E.sum(axis=1, keepdims=True)
            loss = float(np.mean(np.log(S[:, 0]) - Z[np.arange(n), t])) + 0.5 * l2 * float(np.sum(W * W))
            G = (E / S - onehot) / n
            gW = Xs.T @ G + l2 * W
            return loss, np.concatenate([gW.reshape(-1), G.sum(axis=0)])

        w, self.n_iter = _lbfgs(fun, np.zeros(dim * c + c), self.max_iter, self.tol)
        self.labels = labels
        self.mean, self.scale = mean, scale
        self.coef = w[: dim * c].reshape(dim, c).copy()
        self.intercept = w[dim * c:].copy()
        self.n_train = n
        return self

    # -- prediction ----------------------------------------------------------------------------------

    @property
    def dim(self) -> int:
        if self.coef is None:
            raise MuzipError("the classifier is not trained")
        return int(self.coef.shape[0])

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        dim = self.dim
        X = _as_matrix(X)
        if X.shape[1] != dim:
            raise MuzipError(f"the classifier takes vectors of size {dim}, got {X.shape[1]}")
        assert self.mean is not None and self.scale is not None and self.intercept is not None
        return ((X - self.mean) / self.scale) @ self.coef + self.intercept

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        Z = self.decision_function(X)
        Z -= Z.max(axis=1, keepdims=True)
        E = np.exp(Z)
        return E / E.sum(axis=1, keepdims=True)

    def predict(self, X: np.ndarray) -> list[str]:
        return [self.labels[i] for i in np.argmax(self.decision_function(X), axis=1)]

    def check_space(self, space: str, where: str = "the vectors") -> None:
        """Refuse vectors of another embedding space than the one trained on (one line)."""
        if self.space is not None and space != self.space:
            raise MuzipError(f"{where} are in embedding space {space}, but the classifier was trained on "
                             f"{self.space} (embed with the same model and head)")

    # -- files ---------------------------------------------------------------------------------------

    def save(self, path: str | os.PathLike[str], overwrite: bool | None = None) -> None:
        """Write ``.npz`` (numeric arrays + a JSON string) atomically; nothing is pickled."""
        from ..safeio import atomic_output

        if self.coef is None:
            raise MuzipError("the classifier is not trained")
        meta = {"format": FORMAT, "version": VERSION, "labels": self.labels, "space": self.space,
                "dim": self.dim, "l2": self.l2, "n_train": self.n_train, "n_iter": self.n_iter}
        arrays = {name: np.asarray(getattr(self, name), np.float64) for name in _ARRAYS}
        with atomic_output(Path(path), overwrite) as tmp, open(tmp, "wb") as f:
            np.savez(f, meta=np.array(json.dumps(meta)), **arrays)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> LinearClassifier:
        p = Path(path)
        if not p.is_file():
            raise MuzipError(f"{p}: no such classifier file")
        with open(p, "rb") as f:
            if f.read(4) != b"PK\x03\x04":
                raise MuzipError(f"{p}: not a muzip classifier file (not an .npz archive)")
        try:
            with np.load(p, allow_pickle=False) as z:
                if not isinstance(z, np.lib.npyio.NpzFile):
                    raise ValueError("not an npz archive")
                files = {name: z[name] for name in z.files}
        except Exception as exc:  # zipfile, numpy and pickle-refusal errors all mean: not ours
            raise MuzipError(f"{p}: not a muzip classifier file ({str(exc).splitlines()[0][:100]})") from None
        try:
            meta = json.loads(str(files["meta"][()]))
            if meta.get("format") != FORMAT:
                raise ValueError
        except (KeyError, ValueError, TypeError):
            raise MuzipError(f"{p}: not a muzip classifier file (no classifier metadata)") from None
        if int(meta.get("version", 0)) > VERSION:
            raise MuzipError(f"{p}: classifier version {meta['version']} is newer than this muzip ({VERSION})")
        try:
            labels = [str(v) for v in meta["labels"]]
            dim, c = int(meta["dim"]), len(labels)
            arrays = {name: np.asarray(files[name], np.float64) for name in _ARRAYS}
            shapes = {"mean": (dim,), "scale": (dim,), "coef": (dim, c), "intercept": (c,)}
            if any(arrays[k].shape != s for k, s in shapes.items()) or c < 2:
                raise ValueError
            if not all(np.isfinite(a).all() for a in arrays.values()) or (arrays["scale"] <= 0).any():
                raise ValueError
        except (KeyError, ValueError, TypeError):
            raise MuzipError(f"{p}: damaged classifier file (arrays do not match its metadata)") from None
        clf = cls(l2=float(meta.get("l2", 1e-2)), space=meta.get("space"))
        clf.labels = labels
        clf.mean, clf.scale = arrays["mean"], arrays["scale"]
        clf.coef, clf.intercept = arrays["coef"], arrays["intercept"]
        clf.n_train, clf.n_iter = int(meta.get("n_train", 0)), int(meta.get("n_iter", 0))
        return clf


# -- evaluation ----------------------------------------------------------------------------------------


def stratified_folds(y: Sequence[str], k: int = 5, seed: int = 0, groups: Sequence[str] | None = None) -> list[np.ndarray]:
    """``k`` disjoint test-index arrays, each label spread evenly over them (deterministic for ``seed``).

    With ``groups`` (e.g. the source file of each segment), all rows of a group land in one fold,
    so segments of one track are never split between training and test.
    """
    y = [str(v) for v in y]
    keys = [str(g) for g in groups] if groups is not None else [str(i) for i in range(len(y))]
    if len(keys) != len(y):
        raise MuzipError(f"{len(y)} labels but {len(keys)} groups")
    first: dict[str, str] = {}
    for key, lab in zip(keys, y, strict=True):
        first.setdefault(key, lab)
    rng = np.random.default_rng(seed)
    fold_of: dict[str, int] = {}
    offset = 0
    for lab in sorted(set(first.values())):
        members = sorted(g for g, lb in first.items() if lb == lab)
        for j, i in enumerate(rng.permutation(len(members))):
            fold_of[members[i]] = (offset + j) % k
        offset += len(members)
    fold = np.array([fold_of[g] for g in keys])
    return [np.flatnonzero(fold == f) for f in range(k)]


def cross_validate(X: np.ndarray, y: Sequence[str], k: int = 5, seed: int = 0, l2: float = 1e-2,
                   groups: Sequence[str] | None = None) -> dict[str, float | int | list[float]]:
    """Stratified ``k``-fold accuracy of :class:`LinearClassifier`, with the majority-class line.

    Folds whose training part holds fewer than two labels are skipped. Returns ``accuracy`` (pooled
    over every tested row), ``fold_accuracy``, ``majority`` (the most frequent training label's
    accuracy on the same test rows), and ``tested``.
    """
    X = _as_matrix(X)
    y = [str(v) for v in y]
    labels = np.array(y)
    correct = majority = tested = 0
    per_fold: list[float] = []
    for test in stratified_folds(y, k, seed, groups):
        train = np.setdiff1d(np.arange(len(y)), test)
        if len(test) == 0 or len(set(labels[train])) < 2:
            continue
        clf = LinearClassifier(l2=l2).fit(X[train], labels[train].tolist())
        hits = int(np.sum(np.array(clf.predict(X[test])) == labels[test]))
        values, counts = np.unique(labels[train], return_counts=True)
        majority += int(np.sum(labels[test] == values[np.argmax(counts)]))
        correct += hits
        tested += len(test)
        per_fold.append(hits / len(test))
    if tested == 0:
        raise MuzipError("too little labelled data for cross-validation (each fold needs two labels to train on)")
    return {"accuracy": correct / tested, "fold_accuracy": per_fold, "majority": majority / tested,
            "tested": tested, "folds": len(per_fold)}

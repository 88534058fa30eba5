"""The official figures' curves as data: the digitized ``experiments/official_curves.json``.

``python -m experiments.digitize_official --repo DIR`` reads every PDF in ``figures/`` of
github.com/juho-lee/asymmetrical_scaling (MIT licence) and writes that file; this module reads
it, so nothing needs the clone at run time. Per figure and configuration it holds the mean and
its ±1 sd band (over the official 5 runs) at every x the official notebook plotted.

* ``curve(figure, gamma)``: (x, mean, low, high) NumPy arrays.
* ``QUANTITIES``: what each official figure plots, as our results key (``_asym.quantity``).
* ``compare(figure, gamma, xs, values)``: our curve against the official one along the
  trajectory (fraction of the official steps where our mean lies in the official band, and
  ours / official at the last x both cover).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import pathlib

import numpy as np

DATA_FILE = pathlib.Path(__file__).with_name("official_curves.json")
SOURCE = "github.com/juho-lee/asymmetrical_scaling"
LICENCE = "MIT, juho-lee/asymmetrical_scaling"


@dataclasses.dataclass(frozen=True)
class Config:
    """One official configuration: its colour in every figure (the notebooks' ``models`` order
    with matplotlib's default cycle), gamma, alpha and the official run name."""

    colour: int
    gamma: float
    alpha: float | None
    name: str


# The order of ``models`` in all four official notebooks (simulations/, regression/, mnist/
# visualize.ipynb; cifar10/visualize_all.ipynb); digitize_official checks it against them and
# against each legend that names the curves.
CONFIGS = (
    Config(0, 1.0, None, "iid"),
    Config(1, 0.5, 0.7, "const_and_zipfian-alpha0.7-a0.5"),
    Config(2, 0.2, 0.5, "const_and_zipfian-alpha0.5-a0.2"),
    Config(3, 0.0, 0.4, "zipfian-alpha0.4"),
)


@dataclasses.dataclass(frozen=True)
class Quantity:
    """What one official figure plots.

    key: the same quantity in our results (``_asym.quantity``'s name), None where we log none.
    axis: its x: "step" (GD / SGD step), "pruned" (nodes pruned) or "k" (transfer features).
    what: the official notebook's computation, in words.
    """

    key: str | None
    axis: str
    what: str


_STEP0 = "; iteration 0 is not plotted"
_MEAN_SD = "mean ± sd over the 5 runs"


def _regression_like(prefix: str, *, accuracy: bool, ntk_output: str = "") -> dict:
    """The figures the simulated, UCI and MNIST notebooks draw (MNIST adds accuracies)."""
    q = {
        "trainrisk": Quantity("train_risk", "step", f"training MSE, {_MEAN_SD}{_STEP0}"),
        "testrisk": Quantity("test_risk", "step", f"test MSE, {_MEAN_SD}{_STEP0}"),
        "wdiff": Quantity(
            "wdiff", "step",
            "||w_tj - w_0j|| of the node j that moved most at the last step (per run), "
            f"{_MEAN_SD}{_STEP0}",
        ),
        "ntkdiff": Quantity(
            "sqrt_ntk_change", "step",
            f"sqrt of the spectral norm of Theta_t - Theta_0{ntk_output} (the y label says the "
            f"norm itself), {_MEAN_SD}{_STEP0}",
        ),
        "ntkmineig": Quantity(
            "ntk_min_eig", "step",
            f"smallest eigenvalue of Theta_t{ntk_output}, {_MEAN_SD}; iteration 0 included",
        ),
    }  # fmt: skip
    if prefix != "simulated":
        for split in ("train", "test"):
            q[f"prune_{split}risk"] = Quantity(
                f"prune_{split}_risk", "pruned",
                f"{split} MSE after pruning the nodes of smallest lambda, no retraining",
            )  # fmt: skip
            q[f"transfer_{split}risk"] = Quantity(
                f"transfer_{split}_risk", "k",
                f"transfer {split} MSE of an MLP head on the top-k lambda features",
            )  # fmt: skip
    if accuracy:
        for split in ("train", "test"):
            q[f"{split}acc"] = Quantity(
                f"{split}_acc", "step", f"{split} accuracy, {_MEAN_SD}{_STEP0}"
            )
            q[f"prune_{split}acc"] = Quantity(
                f"prune_{split}_acc", "pruned", f"{split} accuracy after pruning, no retraining"
            )
            q[f"transfer_{split}acc"] = Quantity(
                f"transfer_{split}_acc", "k", f"transfer {split} accuracy on top-k features"
            )
    return {f"{prefix}/{name}": v for name, v in q.items()}


_CIFAR_ZOOM = " (a zoom: same data as {}; the PDF holds the whole curves)"
QUANTITIES = {
    **_regression_like("simulated", accuracy=False),
    **{k: v for d in ("airfoil", "concrete", "energy", "plant")
       for k, v in _regression_like(d, accuracy=False).items()},
    **_regression_like("mnist", accuracy=True, ntk_output=" (NTK of output 0 only)"),
    "cifar10/accs": Quantity("test_acc", "step", f"test accuracy, {_MEAN_SD}{_STEP0}"),
    "cifar10/accs_zoom": Quantity(
        "test_acc", "step", f"test accuracy{_STEP0}" + _CIFAR_ZOOM.format("accs")
    ),
    "cifar10/risks": Quantity(
        None, "step",
        f"test cross-entropy, {_MEAN_SD}{_STEP0} (our history logs the MSE test_risk, no CE)",
    ),
    "cifar10/wdiff": Quantity(
        "wdiff", "step", f"||w_tj - w_0j|| of the node that moved most, {_MEAN_SD}{_STEP0}"
    ),
    "cifar10/prunerisk": Quantity(
        "prune_test_loss", "pruned", "test cross-entropy after pruning, no retraining"
    ),
    "cifar10/pruneacc": Quantity(
        "prune_test_acc", "pruned", "test accuracy after pruning, no retraining"
    ),
    "cifar10/pruneacc_zoom": Quantity(
        "prune_test_acc", "pruned", "test accuracy after pruning" + _CIFAR_ZOOM.format("pruneacc")
    ),
}  # fmt: skip


def _name(figure: str) -> str:
    """'airfoil/wdiff' from 'figures/airfoil/wdiff.pdf' or 'airfoil/wdiff'."""
    name = figure.removeprefix("figures/").removesuffix(".pdf")
    return name


@functools.cache
def load(path: str | None = None) -> dict:
    """The data file (``DATA_FILE`` unless ``path``), parsed once."""
    p = pathlib.Path(path) if path else DATA_FILE
    if not p.exists():
        raise FileNotFoundError(
            f"{p} is missing: regenerate it with `python -m experiments.digitize_official "
            "--repo DIR` (DIR: a clone of github.com/juho-lee/asymmetrical_scaling)"
        )
    return json.loads(p.read_text())


def figures() -> list[str]:
    """The digitized figures' names ("airfoil/wdiff", ...)."""
    return sorted(load()["figures"])


def info(figure: str) -> dict:
    """One figure's metadata: source path, commit, licence, axes, labels, quantity, notes."""
    entry = _entry(figure)
    return {k: v for k, v in entry.items() if k != "curves"}


def _entry(figure: str) -> dict:
    data = load()
    name = _name(figure)
    if name not in data["figures"]:
        why = data.get("skipped", {}).get(name)
        raise KeyError(
            f"{figure!r} is not in {DATA_FILE.name}"
            + (f": skipped ({why})" if why else f"; known: {', '.join(sorted(data['figures']))}")
        )
    return data["figures"][name]


def curve(figure: str, gamma: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x, mean, low, high) of the official curve of ``gamma`` in ``figure``.

    ``figure``: "airfoil/wdiff" (or "figures/airfoil/wdiff.pdf"); ``gamma``: 1, 0.5, 0.2 or 0.
    x: every plotted x (GD step, nodes pruned or k); mean ± sd over the official 5 runs.
    """
    curves = _entry(figure)["curves"]
    key = f"{float(gamma):g}"
    if key not in curves:
        raise KeyError(f"{figure!r} has no curve for gamma = {gamma}; it has {sorted(curves)}")
    c = curves[key]
    return tuple(np.asarray(c[k], dtype=float) for k in ("x", "mean", "low", "high"))


@dataclasses.dataclass(frozen=True)
class TrajectoryMatch:
    """Our curve against an official one (``compare``).

    fraction_in_band: share of the official x within our logged range where our mean (over
    seeds, linearly interpolated) lies in the official mean ± sd band; points: how many x
    that is. x_last: the last x both curves cover; ours_last, official_last: the two means
    there (interpolated where needed) and ratio_last = ours_last / official_last.
    """

    fraction_in_band: float
    points: int
    x_last: float
    ours_last: float
    official_last: float
    ratio_last: float


def compare(figure: str, gamma: float, xs, values) -> TrajectoryMatch:
    """Compare our curve (``xs``: (L,) logged x; ``values``: (L,) or (seeds, L)) with the
    official curve of ``gamma`` in ``figure``."""
    return compare_arrays(*curve(figure, gamma), xs, values)


def compare_arrays(x, mean, low, high, xs, values) -> TrajectoryMatch:
    """``compare`` on explicit official arrays (x, mean, low, high)."""
    xs = np.asarray(xs, dtype=float)
    ours = np.asarray(values, dtype=float)
    ours = ours.mean(axis=0) if ours.ndim == 2 else ours
    if xs.ndim != 1 or ours.shape != xs.shape:
        raise ValueError(
            f"xs {xs.shape} and values {np.shape(values)}: give (L,) and (L,) or (seeds, L)"
        )
    order = np.argsort(xs)
    xs, ours = xs[order], ours[order]
    lo_x, hi_x = max(xs[0], x[0]), min(xs[-1], x[-1])
    if lo_x > hi_x:
        raise ValueError(
            f"no common x: ours covers [{xs[0]:g}, {xs[-1]:g}], the official curve "
            f"[{x[0]:g}, {x[-1]:g}]"
        )
    inside = (x >= xs[0]) & (x <= xs[-1])
    at = np.interp(x[inside], xs, ours)
    hits = (at >= low[inside]) & (at <= high[inside])
    ours_last = float(np.interp(hi_x, xs, ours))
    official_last = float(np.interp(hi_x, x, mean))
    return TrajectoryMatch(
        float(hits.mean()) if hits.size else float("nan"),
        int(hits.size),
        float(hi_x),
        ours_last,
        official_last,
        ours_last / official_last if official_last != 0 else float("nan"),
    )

"""Values read off the official figures of the asymmetrical-node-scaling paper (Caron et al.).

Source: the PDFs in ``figures/`` of github.com/juho-lee/asymmetrical_scaling (commit 3c049f0),
read by eye in the project's paper notes (asymmetrical_scaling.md §3.3-3.6; two significant figures
at best). Each ``Reading`` says which figure, which quantity, where on its x-axis it was read
(GD step, feature count k or number of pruned nodes) and the value per gamma. The official
"ntkdiff" figures plot sqrt(||Theta_t - Theta_0||_2): those readings are of the square root
(``quantity="sqrt_ntk_change"``).

Every asym script marks these on its figure (``mark``: black crosses, legend "official figure")
and its claims pass them as ``Claim(official=...)``, so the report prints ours / official.

The same figures digitized (every plotted point with its ±1 sd band, no clone needed):
``experiments._official_curves`` (``curve``, ``compare``, ``QUANTITIES``).
"""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class Reading:
    """One quantity read off one official figure.

    Attributes:
      figure: the official file (``figures/<set>/<name>.pdf``).
      quantity: our results key it compares with (``sqrt_ntk_change`` is sqrt(ntk_change);
        ``wdiff`` the top-node movement ``_asym.top_node_movement``).
      at: where on the figure's x-axis it was read (``axis``).
      values: {gamma: value}.
      axis: "step" (GD / SGD step), "k" (transfer features) or "pruned" (nodes pruned).
      tolerance: (low, high) bounds on ours / official for a claim to hold: read by eye from a
        5-seed mean, so a factor 2 for scales, 10% for accuracies.
      note: anything the reading cannot say (ranges, ties between curves).
    """

    figure: str
    quantity: str
    at: float
    values: dict
    axis: str = "step"
    tolerance: tuple = (0.5, 2.0)
    note: str = ""


ACCURACY = (0.9, 1.1)

SIMULATED = (  # §3.3, 5e4 GD steps, m = 2000
    Reading("figures/simulated/wdiff.pdf", "wdiff", 50_000,
            {1.0: 0.9, 0.5: 7.0, 0.2: 11.0, 0.0: 24.0}, note="γ=0 still growing"),
    Reading("figures/simulated/ntkdiff.pdf", "sqrt_ntk_change", 50_000,
            {1.0: 0.03, 0.5: 0.10, 0.2: 0.18, 0.0: 0.22}),
    Reading("figures/simulated/ntkmineig.pdf", "ntk_min_eig", 50_000,
            {1.0: 0.0037, 0.5: 0.0031, 0.2: 0.0015, 0.0: 0.0002}, note="~constant in t"),
    Reading("figures/simulated/testrisk.pdf", "test_risk", 50_000,
            {1.0: 0.038, 0.5: 0.041, 0.2: 0.042, 0.0: 0.048}),
)  # fmt: skip

REGRESSION = {  # §3.4, 1e5 GD steps, m = 2000
    "airfoil": (
        Reading("figures/airfoil/wdiff.pdf", "wdiff", 100_000,
                {0.0: 27.0, 0.2: 18.0, 0.5: 15.0, 1.0: 4.5}),
        Reading("figures/airfoil/ntkdiff.pdf", "sqrt_ntk_change", 100_000,
                {0.0: 3.3, 0.2: 2.6, 0.5: 1.5, 1.0: 0.35}),
    ),
    "concrete": (
        Reading("figures/concrete/transfer_testrisk.pdf", "transfer_test_risk", 10, {1.0: 0.6},
                axis="k", note="γ < 1: 0.2-0.45, the three curves not told apart"),
    ),
}  # fmt: skip

MNIST = (  # §3.5, 2e5 GD steps, m = 2000, n = 5000
    Reading("figures/mnist/testacc.pdf", "test_acc", 200_000,
            {1.0: 0.89, 0.5: 0.885, 0.2: 0.86, 0.0: 0.76}, tolerance=ACCURACY),
    Reading("figures/mnist/trainacc.pdf", "train_acc", 200_000,
            {1.0: 0.95, 0.5: 0.95, 0.2: 0.92, 0.0: 0.83}, tolerance=ACCURACY),
    Reading("figures/mnist/wdiff.pdf", "wdiff", 200_000,
            {1.0: 3.0, 0.5: 10.0, 0.2: 15.0, 0.0: 22.0}),
    Reading("figures/mnist/ntkdiff.pdf", "sqrt_ntk_change", 200_000,
            {1.0: 0.28, 0.5: 0.53, 0.2: 0.87, 0.0: 0.95}),
    Reading("figures/mnist/ntkmineig.pdf", "ntk_min_eig", 200_000,
            {1.0: 3.0e-3, 0.5: 2.0e-3, 0.2: 1.5e-3, 0.0: 4e-4}),
    Reading("figures/mnist/prune_testacc.pdf", "prune_test_acc", 1000,
            {1.0: 0.6, 0.5: 0.75, 0.2: 0.75, 0.0: 0.75}, axis="pruned", tolerance=(0.8, 1.25)),
    Reading("figures/mnist/prune_testacc.pdf", "prune_test_acc", 1500,
            {1.0: 0.4, 0.5: 0.575, 0.2: 0.575, 0.0: 0.75}, axis="pruned", tolerance=(0.8, 1.25),
            note="γ = 0.5, 0.2: 0.55-0.6"),
    Reading("figures/mnist/transfer_testacc.pdf", "transfer_test_acc", 10,
            {1.0: 0.27, 0.5: 0.47, 0.2: 0.60, 0.0: 0.85}, axis="k", tolerance=(0.8, 1.25)),
    Reading("figures/mnist/transfer_testacc.pdf", "transfer_test_acc", 100,
            {1.0: 0.65, 0.5: 0.86, 0.2: 0.85, 0.0: 0.90}, axis="k", tolerance=(0.8, 1.25)),
)  # fmt: skip

# §3.6: 100 epochs of SGD at batch 64 on 50k images = 782 steps per epoch, ~7.8e4 steps.
CIFAR = (
    Reading("figures/cifar10/accs.pdf", "test_acc", 78_200,
            {1.0: 0.862, 0.5: 0.860, 0.2: 0.851, 0.0: 0.828}, tolerance=ACCURACY),
    Reading("figures/cifar10/wdiff.pdf", "wdiff", 78_200,
            {1.0: 9.0, 0.5: 52.0, 0.2: 66.0, 0.0: 118.0}),
    Reading("figures/cifar10/pruneacc.pdf", "prune_test_acc", 1900, {0.0: 0.83}, axis="pruned",
            tolerance=ACCURACY, note="γ = 0 flat at ~0.83 until 1900 pruned"),
)  # fmt: skip


def readings_for(readings, quantity: str) -> list[Reading]:
    return [r for r in readings if r.quantity == quantity]


def mark(ax, readings, gammas, quantity: str, *, label: bool = True) -> None:
    """Black crosses at the official values of ``quantity`` for the gammas in ``gammas``."""
    shown = {gamma for gamma, _ in gammas}
    xs, ys = [], []
    for r in readings_for(readings, quantity):
        for gamma, value in r.values.items():
            if gamma in shown:
                xs.append(r.at)
                ys.append(value)
    if xs:
        ax.plot(xs, ys, "kx", markersize=7, mew=1.5, label="official figure" if label else None)


def at(xs, curve, where: float):
    """``curve``'s entry at x = ``where`` (its last one when the run stops earlier): (x, value).

    ``curve``: (..., len(xs)); the value keeps the leading axes.
    """
    xs = np.asarray(xs)
    i = int(np.argmin(np.abs(xs - where))) if xs[-1] >= where else len(xs) - 1
    return float(xs[i]), np.asarray(curve)[..., i]

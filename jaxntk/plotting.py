"""Plot helpers: ``plot_*(ax, ...) -> ax``; they never call ``plt.show`` or ``savefig``."""

from __future__ import annotations

import numpy as np


def plot_band(ax, x, runs, *, label=None, color=None, **kwargs):
    """Mean over the first axis of ``runs`` (repetitions) with a +-1 sd band."""
    runs = np.asarray(runs)
    mean, sd = runs.mean(axis=0), runs.std(axis=0)
    (line,) = ax.plot(x, mean, label=label, color=color, **kwargs)
    if runs.shape[0] > 1:
        ax.fill_between(x, mean - sd, mean + sd, color=line.get_color(), alpha=0.2, linewidth=0)
    return ax


def plot_local_curves(ax, local_loss, round_loss, *, color=None, label=None):
    """Within-round surrogate losses between the full-network losses (the paper's Fig. 2a).

    Args:
      local_loss: (num_rounds, local_steps) mean surrogate loss before each local step.
      round_loss: (num_rounds + 1,) full-network loss at the start and after every round.
    """
    local_loss, round_loss = np.asarray(local_loss), np.asarray(round_loss)
    rounds, steps = local_loss.shape
    for r in range(rounds):
        t = r + np.arange(steps) / steps
        ax.plot(t, local_loss[r], color=color, alpha=0.5, linewidth=0.8)
    ax.plot(np.arange(rounds + 1), round_loss, "o-", color=color, markersize=2.5, label=label)
    return ax


def panel_grid(num_panels: int, *, columns: int = 3, size=(4.4, 3.3)):
    """A figure of ``num_panels`` axes, at most ``columns`` a row (readable at page width).

    Returns ``(fig, axes)``: the axes in reading order (unused cells of the last row hidden).
    Constrained layout keeps a suptitle clear of the top row. A plain ``Figure`` (no pyplot
    state): savefig works, and notebooks display it.
    """
    from matplotlib.figure import Figure

    cols = min(columns, num_panels)
    rows = -(-num_panels // cols)
    fig = Figure(figsize=(size[0] * cols, size[1] * rows), layout="constrained")
    axes = list(fig.subplots(rows, cols, squeeze=False).ravel())
    for ax in axes[num_panels:]:
        ax.set_visible(False)
    return fig, axes[:num_panels]

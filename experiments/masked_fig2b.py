"""Masked neurons, Fig. 2b: converged error over surrogates K x keep probability xi, theory vs code.

Paper: Liao & Kyrillidis, TMLR 2022, Fig. 2b (official ``run_heatmap.sh`` / ``heatmap_exp.py``:
Bernoulli masks, width 500, n = 1000, lr 0.1 for every xi, tau = 5 local steps (hard-coded),
K = 1..10 rows, xi = 0.1..1.0 columns, the xi = 1 column full GD, 10 repetitions).

What it shows: heatmaps with a shared logarithmic colour scale of the converged training loss.
Official protocol (default), left: the official run — "code" parameterization, loss
1/2 sum (f - y)^2 / n, a neuron no surrogate held zeroed (with relu'(0) = 0, dead for good) — and
its stopping rule (``heatmap_exp.IST_Converge``: the best mean of an 11-round window, stopping at
the first round that does not improve it, or once below 5e-4; replayed on ``num_rounds`` recorded
rounds by ``_masked_data.official_stop``), averaged over seeds; right, the theory's aggregation
(unsampled neurons kept) in the same units, as the mean of the last ``window`` rounds.
``--protocol theory`` draws the paper's conventions alone. Cells whose run diverged are hatched.
xi is a traced vmap axis; K is static, so each (panel, K) row is one compiled program.

Expected outcome (quick preset, measured, Fashion-MNIST stand-in with head-logit targets): with
the theory's aggregation the error falls along both axes (xi = 0.5: K = 1 0.045, K = 10 0.021;
K = 10: xi = 0.2 0.096, xi = 0.6 0.019, full GD 0.015) except the xi = 0.1 column (~0.30 for
every K: 20 neurons per surrogate); with zeroing, the lower-left corner sits near the dead
network's loss 1/2 sum y^2 / n (~0.32; K = 1 up to xi = 0.5, K <= 3 up to xi = 0.2), i.e. the
official heatmap's corner measures dead neurons, not the theory's neighbourhood (zeroing /
keeping = 6.0 at K = 1, xi = 0.5 under the same rule); both agree where (1 - xi)^K is
negligible (K = 10, xi >= 0.6). The official rule stops after ~23 rounds on average, when 51% of
the neurons of the zeroing runs are dead (58% after all 40 rounds: the fixed-round rule
overstates the damage).

Quick shrinks the paper's setting: n = 64 (paper 1000), d = 128 (2048), width 200 (500),
K in {1, 2, 3, 4, 6, 8, 10} (1..10), 40 rounds, 2 seeds (10 repetitions).

Commands:
    python -m experiments.masked_fig2b                   # quick, ~2-6 min on 2 CPU cores
    python -m experiments.masked_fig2b --preset paper    # the full 10 x 10 grid at the paper's size
    python -m experiments.masked_fig2b --preset smoke    # a few seconds (tests)
Outputs in --outdir (default results/masked_fig2b/): config.json, results.npz, figure.png/.pdf,
claims.json.
"""

from __future__ import annotations

import dataclasses
import sys

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import LogNorm
from tqdm.auto import tqdm

from . import _claims, _cli, _masked_data


@dataclasses.dataclass(frozen=True)
class Config:
    protocol: str = "official"  # or "theory" (experiments._masked_data)
    # stand-in when no feature file: "fashion_logits" | "fashion_mnist" (one-hot) | "gaussian"
    data: str = "fashion_logits"
    n: int = 64
    in_dim: int = 128  # --data gaussian only (Fashion-MNIST: 784)
    out_dim: int = 10
    width: int = 200
    subnets: tuple = (1, 2, 3, 4, 6, 8, 10)
    keep_probs: tuple = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
    lr: float = 0.1  # the official lr, the same for every xi (run_heatmap.sh)
    local_steps: int = 5  # heatmap_exp.py hard-codes 5
    # Rounds recorded: the official rule (experiments._masked_data.official_stop) breaks at the
    # first non-improving round; the theory panel averages the last ``window`` of them.
    num_rounds: int = 40
    window: int = 10
    # path to the paper's ResNet50 feature file; "" = the stand-in ``data``
    features: str = _cli.input_file()
    num_seeds: int = 2
    seed: int = 0
    # jaxntk.sweep_masked's engine options (_masked_data.sweep): the exact path ("auto": the
    # fastest for the shapes, compact surrogates included) and pad (see ENGINE in _masked_data).
    path: str = "auto"
    pad: bool = True  # quick and smoke; the paper preset: False


PRESETS = {
    "quick": Config(),
    "paper": Config(n=1000, width=500, subnets=tuple(range(1, 11)), num_rounds=100,
                    num_seeds=10, pad=False),  # fmt: skip
    "smoke": Config(data="gaussian", n=16, in_dim=32, out_dim=2, width=64, subnets=(1, 4),
                    keep_probs=(0.3, 0.6, 1.0), lr=0.2, local_steps=2, num_rounds=20, window=5),
}  # fmt: skip


def panels(cfg: Config) -> list:
    """(protocol, title) of the heatmap panels: official then the theory companion, or the
    theory protocol alone."""
    runs = _masked_data.protocols(cfg, cfg.width)
    titles = {
        "official": "official: unsampled zeroed, stop at first non-improving window\n"
        f"(capped at {cfg.num_rounds} rounds, the official loop is not: an upper bound)",
        "theory aggregation": f"theory aggregation: unsampled kept, mean of last {cfg.window}",
        "theory": f"theory protocol: unsampled kept, mean of last {cfg.window}",
    }
    return [(p, titles[p.name]) for p in runs]


def run(cfg: Config, stages: _cli.Stages = _cli.IN_MEMORY) -> dict[str, np.ndarray]:
    """``loss`` (panel, K, xi, seed, rounds + 1), ``error`` (panel, K, xi) and the official
    rule's stopping round and dead fraction there.

    The xi = 1 column is full GD: with xi = 1 every mask keeps every neuron, so each of the K
    surrogates is the full network, their average is tau full GD steps (the official code runs
    that column with K = 1; the same up to rounding) and no neuron is ever unsampled. It rides in
    each row's vmap over xi rather than costing a program of its own.
    """
    x, y, _ = _masked_data.load(cfg)
    xis = np.asarray(cfg.keep_probs, np.float64)
    loss, dead = [], []
    rows = [(p, k) for p, _ in panels(cfg) for k in cfg.subnets]
    for proto, k in tqdm(rows, desc="fig2b: (protocol, K) rows"):

        def row(proto=proto, k=k):  # one checkpointed stage per row (``stages.run``)
            history = _masked_data.seeds_by_keep_prob(
                cfg, x, y, cfg.width, proto, xis,
                lambda xi: _masked_data.masked_config(cfg, proto, k, xi, cfg.lr),
            )  # fmt: skip
            return {"loss": history.loss, "dead": history.dead_fraction}

        done = stages.run(f"row_{proto.name.replace(' ', '_')}_K{k}", row)
        loss.append(done["loss"])
        dead.append(done["dead"])
    shape = (len(rows) // len(cfg.subnets), len(cfg.subnets), len(xis), cfg.num_seeds)
    loss = np.stack(loss).reshape(*shape, cfg.num_rounds + 1)
    dead = np.stack(dead).reshape(*shape, cfg.num_rounds)
    error = _masked_data.converged(loss, cfg.window)  # (panel, K, xi, seed)
    out = {
        "subnets": np.asarray(cfg.subnets),
        "keep_probs": xis,
        "loss": loss,
        "dead_fraction_final": dead[..., -1],
    }
    if cfg.protocol == "official":
        stop = _masked_data.official_stop(loss[0], "heatmap")
        error[0] = stop.error
        dead_at_stop = np.take_along_axis(dead[0], stop.round[..., None] - 1, axis=-1)[..., 0]
        out.update(stop_round=stop.round, stopped=stop.stopped, dead_at_stop=dead_at_stop)
    out["error"] = error.mean(axis=-1)  # (panel, K, xi)
    return out


def plot(results: dict, cfg: Config):
    error = results["error"]
    finite = error[np.isfinite(error)]
    norm = LogNorm(vmin=finite.min(), vmax=finite.max()) if finite.size else None
    titles = [t for _, t in panels(cfg)]
    fig, axes = plt.subplots(1, len(titles), figsize=(6.5 * len(titles), 5), sharey=True,
                             squeeze=False)  # fmt: skip
    axes = axes[0]
    xis, ks = results["keep_probs"], results["subnets"]
    for ax, values, title in zip(axes, error, titles):
        image = ax.imshow(
            np.ma.masked_invalid(values), origin="lower", aspect="auto", norm=norm, cmap="viridis"
        )
        for i, j in zip(*np.nonzero(~np.isfinite(values))):
            ax.add_patch(
                plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="xx", color="red")
            )
        for i, j in zip(*np.nonzero(np.isfinite(values))):
            v = values[i, j]
            bright = norm is not None and norm(v) > 0.6  # viridis is light at the top
            ax.text(j, i, f"{v:.0f}" if v >= 10 else f"{v:.2g}", ha="center", va="center",
                    fontsize=7, color="black" if bright else "white")  # fmt: skip
        ax.set_xticks(range(len(xis)), [f"{v:g}" for v in xis])
        ax.set_yticks(range(len(ks)), [str(k) for k in ks])
        ax.set(xlabel="keep probability ξ (ξ = 1: full GD)", title=title)
    axes[0].set_ylabel("surrogates per round K")
    bar = fig.colorbar(image, ax=axes, fraction=0.04)
    bar.set_label(f"converged loss {panels(cfg)[0][0].loss_label} (log scale)")
    fig.suptitle(
        f"Converged error, {cfg.protocol} protocol (τ={cfg.local_steps}, official lr {cfg.lr}, "
        f"width {cfg.width}, mean of {cfg.num_seeds} seeds; hatched: diverged): "
        f"{_masked_data.describe(cfg)}",
        fontsize=10,
    )
    return fig


def _cell(values, results, k, xi):
    """``values`` (K, xi) at (k, xi)."""
    ks, xis = list(results["subnets"]), list(np.round(results["keep_probs"], 6))
    return values[ks.index(k), xis.index(round(xi, 6))]


def _probes(cfg: Config):
    """(K_min, K_max, xi_mid, xi_lo, xi_hi) among the grid's masked values."""
    masked = sorted(x for x in cfg.keep_probs if x < 1.0)
    mid = min(masked, key=lambda v: abs(v - 0.5))
    lo = masked[1] if len(masked) > 2 else masked[0]  # xi = 0.1 may diverge at lr 0.1
    return min(cfg.subnets), max(cfg.subnets), mid, lo, masked[-1]


def claims(results: dict, cfg: Config) -> list[_cli.Claim]:
    k1, kmax, mid, lo, hi = _probes(cfg)
    theory = results["error"][-1]  # the theory aggregation's panel (or the theory protocol's)
    over_k = float(_cell(theory, results, k1, mid) / _cell(theory, results, kmax, mid))
    over_xi = float(_cell(theory, results, kmax, lo) / _cell(theory, results, kmax, hi))
    rows = [
        ("more surrogates K lower the converged error (Fig. 2b rows)",
         f"error K={k1} / K={kmax} at ξ={mid:g} (theory aggregation) = {over_k:.2f}", over_k,
         "> 1.5"),
        ("a larger keep probability ξ lowers the converged error at fixed lr (Fig. 2b columns)",
         f"error ξ={lo:g} / ξ={hi:g} at K={kmax} (theory aggregation) = {over_xi:.2f}", over_xi,
         "> 1.5"),
    ]  # fmt: skip
    if cfg.protocol == "official":
        # Both aggregations under the official stopping rule: the ratio is the zeroing alone.
        kept = _masked_data.official_stop(results["loss"][1], "heatmap").error.mean(axis=-1)
        official = _cell(results["error"][0], results, k1, mid)
        zeroing = float(official / _cell(kept, results, k1, mid))
        rows.append((
            "the official code's zeroing of unsampled neurons inflates the error at small K",
            f"error zeroing / keeping at K={k1}, ξ={mid:g} (both under the official rule) = "
            f"{zeroing:.2f}", zeroing, "> 2",
        ))  # fmt: skip
    return _claims.table("masked", rows)


def summary(results: dict, cfg: Config) -> str:
    lines = []
    for (proto, title), error in zip(panels(cfg), results["error"]):
        lines.append(f"{title}: converged error {proto.loss_label}, rows K, columns ξ")
        lines.append("  K \\ ξ " + " ".join(f"{v:>8g}" for v in cfg.keep_probs))
        for k, row in zip(cfg.subnets, error):
            lines.append(f"  {k:5d} " + " ".join(f"{v:8.3g}" for v in row))
    if "stop_round" in results:
        lines.append(
            f"{_masked_data.stop_summary(results, cfg.num_rounds)}; dead fraction at the stop "
            f"{results['dead_at_stop'].mean():.1%} vs "
            f"{results['dead_fraction_final'][0].mean():.1%} after all rounds"
        )
    return "\n".join(lines)


SCRIPT = _cli.Script("masked_fig2b", PRESETS, run, plot, claims, __doc__.splitlines()[0], summary)


def main(argv=None) -> int:
    return _cli.main(SCRIPT, argv)


if __name__ == "__main__":
    sys.exit(main())

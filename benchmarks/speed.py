"""Speed of jaxntk's own workloads: the masked round's paths, the NTG, a GD step, a Fig. 2b sweep.

    .venv/bin/python -m benchmarks.speed                 # everything at the issue's shapes
    .venv/bin/python -m benchmarks.speed --only fig2a ntg gd
    .venv-nt/bin/python -m benchmarks.speed --only ntg   # + neural-tangents' three implementations

Prints one table and writes it as JSON (``--out``, default ``benchmarks/results/<platform>.json``)
plus a log-log plot of time against K, tau, m and n (``scaling.png`` next to it). Times are after
compilation; a workload's time per round (step) is the marginal one, (t(R + k) - t(R)) / k over
repeats, so one-off work (the initial loss, the Gram matrix) is not counted, as in the official
codes' per-iteration times. GFLOP/s count 2 per multiply-add of the path's own arithmetic
(``jaxntk.rounds.costs``), so a path that does less work is not credited with the work it skips;
"plain-equivalent GFLOP/s" credits it (what the plain path would need at that speed).

Ratios against the official codes are measured in the same run by ``benchmarks.official`` (this
module gives it its timing helpers); here the paths are compared with each other and with the
same run's 4096^2 matmul. Not a test: nothing here passes or fails, except that a recompilation
between rounds or sweep points of equal shape is reported.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import jaxntk
from jaxntk import ntk, rounds

F32 = jnp.float32
# The grid of (m, K, tau) at n 1000, d 2048, C 10, xi 0.5 (the official code's Fig. 2a settings
# around the paper's): how the auto path's time grows against plain.
GRID = [(m, k, tau) for m in (500, 1500) for k in (1, 10) for tau in (1, 5, 10)]


def seconds(fn, repeats):
    """Times of ``repeats`` calls of ``fn`` after one compiling call."""
    jax.block_until_ready(fn())
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        out.append(time.perf_counter() - start)
    return np.asarray(out)


def marginal(make, base, extra, repeats):
    """Per-unit times (t(base + extra) - median t(base)) / extra; ``make(count)`` -> thunk."""
    t_base = np.median(seconds(make(base), repeats))
    return (seconds(make(base + extra), repeats) - t_base) / extra


def summary(times, flops=None, plain=None) -> dict:
    row = {
        "median_s": float(np.median(times)),
        "min_s": float(times.min()),
        "max_s": float(times.max()),
    }
    if flops is not None:
        row["gflops"] = flops / 1e9
        row["gflop_per_s"] = flops / 1e9 / row["median_s"]
    if plain is not None:
        row["vs_plain"] = plain / row["median_s"]
    return row


def data(key, n, d, out_dim):
    k_x, k_y = jax.random.split(key)
    x = jax.random.normal(k_x, (n, d), F32)
    x = x / jnp.linalg.norm(x, axis=1, keepdims=True)
    y = jax.nn.one_hot(jax.random.randint(k_y, (n,), 0, out_dim), out_dim, dtype=F32)
    return x, y


def masked_round(n, d, m, out_dim, k, tau, xi, path, repeats, lr=0.1, extra=2, unsampled="keep"):
    """Marginal seconds per round and the path's FLOPs per round."""
    x, y = data(jax.random.key(0), n, d, out_dim)
    params = jaxntk.init_params(
        jax.random.key(1), d, m, out_dim, parameterization="code", dtype=F32
    )

    def make(num_rounds):
        cfg = jaxntk.MaskedConfig(k, xi, tau, lr, num_rounds, unsampled=unsampled, loss="half_mean")
        return lambda: jaxntk.train_masked(jax.random.key(2), params, x, y, cfg, path=path)

    cfg = jaxntk.MaskedConfig(k, xi, tau, lr, 1)
    resolved, cap = rounds.resolve(path, n, d, m, out_dim, cfg, xi)
    cost = rounds.costs(n, d, m, out_dim, cfg, rounds.capacity(m, xi))
    times = marginal(make, 1, extra, repeats)
    return times, 2 * cost[resolved], 2 * cost["plain"], resolved


def peak_matmul(repeats, size=4096):
    """The practical fp32 peak: a large square matmul (summary row with GFLOP/s)."""
    a = jax.random.normal(jax.random.key(0), (size, size), F32)
    mm = jax.jit(lambda a: a @ a)
    return summary(seconds(lambda: mm(a), repeats), 2 * size**3)


def ntg_thunk(backend="closed_form", points=50, d=784, m=2000, out_dim=10, **extra):
    """A jitted call of the per-output NTG (the official compute_NTK's kernels) at its shape."""
    x, _ = data(jax.random.key(0), points, d, out_dim)
    x = jnp.abs(x)
    params = jaxntk.init_params(jax.random.key(1), d, m, out_dim, dtype=F32)
    scale = jnp.sqrt(jax.random.dirichlet(jax.random.key(2), jnp.full((m,), 0.5, F32)))
    axes = {"trace_axes": (), "diagonal_axes": (-1,)}
    fn = jax.jit(lambda p, s: ntk.empirical(p, x, node_scale=s, backend=backend, **axes, **extra))
    return lambda: fn(params, scale)


def gd_steps(n=5000, d=784, m=2000, out_dim=10, node_scale=None):
    """``make(steps)`` -> a full-batch ``train_gd`` call (mean-MSE, asym_code) of that many steps.

    ``node_scale`` defaults to 1/sqrt(m) (lam = 1/m); returns ``(make, flops per step)``.
    """
    x, y = data(jax.random.key(0), n, d, out_dim)
    params = jaxntk.init_params(
        jax.random.key(1), d, m, out_dim, parameterization="asym_code", dtype=F32
    )
    scale = jnp.full((m,), 1 / np.sqrt(m), F32) if node_scale is None else node_scale

    def make(steps):
        cfg = jaxntk.GDConfig(lr=1.0, num_steps=steps, log_every=steps, loss="mean")
        return lambda: jaxntk.train_gd(params, x, y, cfg, node_scale=scale)

    # forward X W^T and backward G^T X, plus the output layer's forward and backward
    return make, 2 * (2 * n * d * m + 2 * n * m * out_dim)


def recompiles(n=64, d=128, m=100, out_dim=3) -> int:
    """Compilations added by new lr / keep_prob / data of equal shape (should be 0)."""
    x, y = data(jax.random.key(0), n, d, out_dim)
    params = jaxntk.init_params(jax.random.key(1), d, m, out_dim, dtype=F32)
    cfg = jaxntk.MaskedConfig(4, 0.5, 2, 0.1, 3)
    jaxntk.train_masked(jax.random.key(0), params, x, y, cfg, path="gram")
    before = rounds.run._cache_size()
    for lr, xi in ((0.05, 0.3), (0.2, 0.8)):
        other = jaxntk.MaskedConfig(4, xi, 2, lr, 3)
        jaxntk.train_masked(jax.random.key(3), params, x * 1.0, y, other, path="gram")
    return rounds.run._cache_size() - before


def fig2b(seeds, num_rounds, repeats, m=500, n=1000, d=2048, out_dim=10):
    """The paper-scale heatmap (K 1..10 x xi 0.1..1.0) as one sweep_masked program."""
    x, y = data(jax.random.key(0), n, d, out_dim)
    init_keys = jax.random.split(jax.random.key(1), seeds)
    params = jax.vmap(lambda k: jaxntk.init_params(k, d, m, out_dim, dtype=F32))(init_keys)
    ks, xis = np.meshgrid(np.arange(1, 11), np.round(np.arange(1, 11) / 10, 1), indexing="ij")
    keys = jax.random.split(jax.random.key(2), seeds)

    def make(rounds_):
        cfg = jaxntk.MaskedConfig(10, 1.0, 5, 0.1, rounds_)
        return lambda: jaxntk.sweep_masked(
            keys, params, x, y, cfg, num_subnets=ks.ravel(), keep_prob=xis.ravel()
        )

    start = time.perf_counter()
    jax.block_until_ready(make(num_rounds)())  # the whole sweep once, compilation included
    end_to_end = time.perf_counter() - start
    # Whole-program times over num_rounds (the one-off initial loss and Gram matrix are < 1 %).
    return seconds(make(num_rounds), repeats) / num_rounds, end_to_end


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--only",
        nargs="*",
        default=None,
        choices=["peak", "fig2a", "grid", "ntg", "gd", "fig2b", "scaling"],
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--fig2b-seeds",
        type=int,
        default=1,
        help="repetitions run (paper: 10; the time is scaled to 10)",
    )
    parser.add_argument(
        "--fig2b-rounds",
        type=int,
        default=1,
        help="rounds timed (paper: 20; the time is scaled to 20)",
    )
    parser.add_argument(
        "--extra", type=int, default=2, help="rounds/steps timed beyond the first (GPU: 20)"
    )
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    todo = set(args.only or ["peak", "fig2a", "grid", "ntg", "gd", "fig2b", "scaling"])
    device = jax.devices()[0]
    info = {
        "jax": jax.__version__,
        "platform": device.platform,
        "device": device.device_kind,
        "cpu": platform.processor() or platform.machine(),
        "results": {},
    }
    out = info["results"]
    print(f"jax {jax.__version__} on {device.platform} ({device.device_kind}), float32")

    if "peak" in todo:  # the practical fp32 peak: a large square matmul
        out["peak_matmul"] = peak_matmul(args.repeats)
        print(f"peak: 4096^2 matmul {out['peak_matmul']['gflop_per_s']:.0f} GFLOP/s")

    if "fig2a" in todo:  # m 500, n 1000, d 2048, C 10, K 10, xi 0.5, tau 10
        print("\nFig. 2a round (m 500, n 1000, d 2048, C 10, K 10, xi 0.5, tau 10), s/round:")
        plain = None
        for path in ("plain", "compact", "gram", "gram_compact", "auto"):
            t, flops, plain_flops, resolved = masked_round(
                1000, 2048, 500, 10, 10, 10, 0.5, path, args.repeats, extra=args.extra
            )
            plain = np.median(t) if path == "plain" else plain
            row = summary(t, flops, plain)
            row["plain_equiv_gflop_per_s"] = plain_flops / 1e9 / row["median_s"]
            row["path"] = resolved
            out[f"fig2a_{path}"] = row
            print(
                f"  {path:<13}{row['median_s']:.3f} ({row['min_s']:.3f}–{row['max_s']:.3f})"
                f"  {row['gflop_per_s']:.0f} GFLOP/s ({row['plain_equiv_gflop_per_s']:.0f} "
                f"plain-equiv.)  {row['vs_plain']:.2f}x plain"
            )
        out["recompilations"] = recompiles()
        print(f"  recompilations for new lr / keep_prob / data: {out['recompilations']}")

    if "grid" in todo:
        print("\nGrid (n 1000, d 2048, C 10, xi 0.5), s/round: plain | auto (path)")
        for m, k, tau in GRID:
            t_plain, *_ = masked_round(
                1000, 2048, m, 10, k, tau, 0.5, "plain", args.repeats, extra=args.extra
            )
            t_auto, flops, _, path = masked_round(
                1000, 2048, m, 10, k, tau, 0.5, "auto", args.repeats, extra=args.extra
            )
            row = summary(t_auto, flops, np.median(t_plain))
            row.update(path=path, plain_median_s=float(np.median(t_plain)))
            out[f"grid_m{m}_K{k}_tau{tau}"] = row
            print(
                f"  m {m:<5}K {k:<3}tau {tau:<3}{np.median(t_plain):8.3f} | "
                f"{row['median_s']:.3f} ({path})  -> {row['vs_plain']:.2f}x plain"
            )

    if "ntg" in todo:  # 50 points, d 784, m 2000, 10 per-output kernels
        backends = [("closed_form", {}), ("autodiff", {})]
        if ntk.neural_tangents_available():
            backends += [("neural_tangents", {"implementation": i}) for i in (1, 2, 3)]
        print("\nNTG (50 points, d 784, m 2000, 10 outputs), ms:")
        for backend, extra in backends:
            reps = 3 if backend == "neural_tangents" else args.repeats
            row = summary(seconds(ntg_thunk(backend, **extra), reps))
            name = f"ntg_{backend}" + (f"{extra['implementation']}" if extra else "")
            out[name] = row
            print(
                f"  {name:<20}{row['median_s'] * 1e3:10.2f} ({row['min_s'] * 1e3:.2f}–"
                f"{row['max_s'] * 1e3:.2f})"
            )

    if "gd" in todo:  # n 5000, d 784, m 2000, C 10
        make, flops = gd_steps()
        row = summary(marginal(make, 1, 2 * args.extra, args.repeats), flops)
        out["gd_step"] = row
        print(
            f"\nGD step (n 5000, d 784, m 2000, C 10): {row['median_s']:.3f} s "
            f"({row['min_s']:.3f}–{row['max_s']:.3f}), {row['gflop_per_s']:.0f} GFLOP/s"
        )

    if "fig2b" in todo:
        t, end_to_end = fig2b(args.fig2b_seeds, args.fig2b_rounds, max(1, args.repeats // 2))
        per_round = t / args.fig2b_seeds  # per repetition and round, all 100 cells
        hours = per_round * 10 * 20 / 3600
        row = summary(hours)
        row.update(
            end_to_end_s=end_to_end,
            seconds_per_round_per_repetition=float(np.median(per_round)),
            seeds_run=args.fig2b_seeds,
            rounds_timed=args.fig2b_rounds,
        )
        out["fig2b_paper_hours"] = row
        print(
            f"\nFig. 2b at paper scale (100 cells x 10 reps x 20 rounds, tau 5, one program): "
            f"{np.median(per_round):.1f} s per round of the 100 cells -> {row['median_s']:.2f} h; "
            f"{args.fig2b_seeds} seed(s) x "
            f"{args.fig2b_rounds} round(s) end to end incl. compilation: {end_to_end:.0f} s"
        )

    if "scaling" in todo:
        base = {"n": 500, "d": 1024, "m": 500, "k": 4, "tau": 5}
        sweeps = {
            "k": (1, 2, 4, 8, 16),
            "tau": (1, 2, 5, 10, 20),
            "m": (125, 250, 500, 1000, 2000),
            "n": (125, 250, 500, 1000, 2000),
        }
        curves = {}
        print("\nScaling (auto path; base n 500, d 1024, m 500, K 4, tau 5, xi 0.5), s/round:")
        for name, values in sweeps.items():
            curves[name] = []
            for v in values:
                s = {**base, name: v}
                t, _, _, path = masked_round(
                    s["n"],
                    s["d"],
                    s["m"],
                    10,
                    s["k"],
                    s["tau"],
                    0.5,
                    "auto",
                    max(2, args.repeats // 2),
                    extra=args.extra,
                )
                curves[name].append((v, float(np.median(t)), path))
            print(f"  {name}: " + ", ".join(f"{v}: {t:.3f} ({p})" for v, t, p in curves[name]))
        out["scaling"] = curves

    path = args.out or Path(__file__).parent / "results" / f"{device.platform}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(info, indent=2) + "\n")
    if "scaling" in todo:
        plot_scaling(out["scaling"], path.with_name(f"scaling_{device.platform}.png"))
    print(f"\nwrote {path}")
    return info


def plot_scaling(curves, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = {"k": "surrogates K", "tau": "local steps tau", "m": "width m", "n": "points n"}
    fig, axes = plt.subplots(1, 4, figsize=(14, 3.4), sharey=True)
    for ax, (name, points) in zip(axes, curves.items()):
        v = np.array([p[0] for p in points], float)
        t = np.array([p[1] for p in points])
        ax.loglog(v, t, "o-", label="measured")
        ax.loglog(v, t[0] * v / v[0], "k:", lw=1, label="linear")
        if name == "n":  # the Gram path's n^2 m term
            ax.loglog(v, t[0] * (v / v[0]) ** 2, "k--", lw=1, label="quadratic")
            ax.legend(loc="upper left")
        for x_, t_, p in points:  # where "auto" switches path
            if p != points[0][2]:
                ax.annotate(p, (x_, t_), textcoords="offset points", xytext=(-40, 6), fontsize=8)
        ax.set_xticks(v, [f"{x:g}" for x in v])
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlabel(labels[name])
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("seconds per round")
    axes[0].legend()
    fig.suptitle("Masked round time (auto path), base n 500, d 1024, m 500, K 4, tau 5")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()

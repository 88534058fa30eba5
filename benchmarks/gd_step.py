"""Speed of the asymmetrical-scaling GD step at every paper shape, against its arithmetic floor.

    .venv/bin/python -m benchmarks.gd_step                  # every shape, ~7 min on 2 cores
    .venv/bin/python -m benchmarks.gd_step --only concrete plant transfer

Per seed-step milliseconds of full-batch GD (5 seeds, float32, mean-MSE, lr 1, asym_code, the
gamma 0.5 Zipf scales) at the paper presets' shapes: the UCI training splits of
``experiments.asym_regression`` (concrete, airfoil, plant), ``asym_simulated``, ``asym_teacher``
the widest ``asym_width_scaling`` run and ``asym_mnist`` (on Fashion-MNIST's splits of the same
shape, C = 10). "before" is the step as ``jaxntk.gd`` ran it until
issue 25 (``jax.vmap`` over seeds of ``steps.descend`` with autodiff through ``model.apply``,
``jaxntk.fullbatch`` implementation "autodiff"); "after" is ``jax.vmap(gd.advance)`` over seeds,
as ``experiments._asym`` calls it. Both are marginal times, (t(2K steps) - t(K)) / K, so the
logs' diagnostics and dispatch are not counted. The floor is 2 (2ndm + 2nmC) FLOP per seed-step
(forward X W^T and backward X^T G) at the same run's 4096^2 matmul rate.

The transfer stage (``jaxntk.transfer``: per data set 4 configurations x 5 seeds x 10 ks x
2 feature kinds = 400 heads of 5000 steps) is timed per step of one configuration's 50 heads.

Writes ``benchmarks/results/gd_step.json`` (``--out``) with the load average beside every row:
other jobs share the CPU, so compare ratios taken in one run. Not a test.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxntk
from benchmarks.speed import marginal, peak_matmul, summary
from jaxntk import fullbatch, gd, steps
from jaxntk.data import sphere_sin

F32 = jnp.float32
SEEDS = 5
SHAPES = ("concrete", "airfoil", "plant", "simulated", "teacher", "width_4000", "mnist")


def paper_shapes() -> dict[str, dict]:
    """{name: n, d, C, m, seeds, loss, lr} read from the experiments' paper presets and data."""
    from experiments import _asym, asym_mnist, asym_regression, asym_simulated, asym_teacher
    from experiments import asym_width_scaling as widths

    out = {}
    regression = asym_regression.PRESETS["paper"]
    for name, cfg in (
        ("concrete", regression), ("airfoil", regression), ("plant", regression),
        # the MNIST run's shapes on Fashion-MNIST (the same 5000 x 784 splits, 10 classes)
        ("mnist", dataclasses.replace(asym_mnist.PRESETS["paper"], dataset="fashion_mnist")),
    ):  # fmt: skip
        data = _asym.load_split(getattr(cfg, "dataset", name), cfg)
        (n, d), out_dim = data["x_train"].shape, data["y_train"].shape[1]
        out[name] = dict(n=n, d=d, C=out_dim, m=cfg.width, seeds=cfg.num_seeds, loss=cfg.loss,
                         lr=cfg.lr)  # fmt: skip
    for name, cfg, m in (
        ("simulated", asym_simulated.PRESETS["paper"], asym_simulated.PRESETS["paper"].width),
        ("teacher", asym_teacher.PRESETS["paper"], asym_teacher.PRESETS["paper"].width),
        ("width_4000", widths.PRESETS["paper"], max(widths.PRESETS["paper"].widths)),
    ):
        out[name] = dict(n=cfg.n, d=cfg.in_dim, C=1, m=m, seeds=cfg.num_seeds, loss="mean",
                         lr=cfg.lr)  # fmt: skip
    return out


def problem(n, d, m, seeds, out_dim=1):
    """Unit-norm inputs, targets (one-hot for C > 1), per-seed asym_code parameters and the
    gamma 0.5 Zipf scales."""
    x, y = sphere_sin(jax.random.key(0), 2 * n, d, dtype=F32)
    if out_dim > 1:
        y = jax.nn.one_hot(jnp.argmax(x[:, :out_dim], axis=1), out_dim, dtype=F32)
    keys = jax.random.split(jax.random.key(1), seeds)
    params = jax.vmap(
        lambda k: jaxntk.init_params(k, d, m, out_dim, parameterization="asym_code", dtype=F32)
    )(keys)
    lam = jaxntk.scaling.node_scales(None, m, gamma=0.5, kind="zipf_code", alpha=0.7, dtype=F32)
    return x[:n], y[:n], x[n:], y[n:], params, jnp.sqrt(lam)


def gd_step_makers(shape: dict):
    """{"before" | "after": make(steps) -> thunk}: the 5-seed GD of ``steps`` steps.

    Data are arguments of the compiled calls, as in ``experiments._asym`` (closed-over
    constants would be folded by XLA).
    """
    x, y, x_test, y_test, params, scale = problem(shape["n"], shape["d"], shape["m"],
                                                  shape["seeds"], shape["C"])  # fmt: skip
    data = {"x": x, "y": y, "node_scale": scale, "x_test": x_test, "y_test": y_test}
    ntk_points = min(50, shape["n"])

    def before(num_steps):
        def one(p, data):
            loss = fullbatch.loss_fn(
                p, data["x"], data["y"], shape["loss"], node_scale=data["node_scale"],
                implementation="autodiff",
            )  # fmt: skip
            return steps.descend(loss, p["w"], optax.sgd(shape["lr"]), num_steps).params

        run = jax.jit(jax.vmap(one, in_axes=(0, None)))
        return lambda: run(params, data)

    def after(num_steps):
        cfg = jaxntk.GDConfig(shape["lr"], num_steps, num_steps, loss=shape["loss"],
                              ntk_points=ntk_points)  # fmt: skip

        def start(p, data):
            return gd.start(p, data["x"], data["y"], cfg, **_extra(data))[0]

        def advance(p, c, data):
            return gd.advance(p, data["x"], data["y"], cfg, c, 1, 1, **_extra(data))

        carry = jax.jit(jax.vmap(start, in_axes=(0, None)))(params, data)
        run = jax.jit(jax.vmap(advance, in_axes=(0, 0, None)))
        return lambda: run(params, carry, data)

    return {"before": before, "after": after}


def _extra(data):
    return {k: data[k] for k in ("node_scale", "x_test", "y_test")}


def transfer_maker(n_train: int, n_test: int, m: int = 2000, seeds: int = SEEDS):
    """make(steps) -> thunk: one configuration's transfer heads (seeds x the 10 paper ks)."""
    from experiments import asym_regression

    cfg = asym_regression.PRESETS["paper"]
    x, y, *_, params, scale = problem(n_train + n_test, 8, m, seeds)
    split = (x[:n_train], y[:n_train], x[n_train:], y[n_train:])
    keys = jax.random.split(jax.random.key(2), seeds)

    def make(num_steps):
        head = jaxntk.HeadConfig(tuple(cfg.head_hidden), cfg.head_lr, num_steps)

        def one(k, p, scale, split):
            return jaxntk.transfer_curve(k, p, scale, *split, list(cfg.ks), head).test_risk

        run = jax.jit(jax.vmap(one, in_axes=(0, 0, None, None)))
        return lambda: run(keys, params, scale, split)

    return make, seeds * len(cfg.ks)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", choices=[*SHAPES, "transfer"], default=None)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "gd_step.json"
    )
    args = parser.parse_args(argv)
    todo = args.only or [*SHAPES, "transfer"]
    device = jax.devices()[0]
    peak = peak_matmul(args.repeats)
    rate = peak["gflop_per_s"] * 1e9
    info = {
        "jax": jax.__version__,
        "device": f"{device.platform} ({device.device_kind})",
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "peak_matmul": {**peak, "load": os.getloadavg()},
        "results": {},
    }
    print(f"jax {jax.__version__} on {device.platform}, 4096^2 matmul {rate / 1e9:.0f} GFLOP/s")
    print(f"{'shape':<11}{'n':>6}{'d':>4}{'m':>6}  per seed-step ms: {'floor':>6}{'before':>8}"
          f"{'after':>8}  ratio before/after  speed-up  load")  # fmt: skip
    shapes = paper_shapes() if set(todo) - {"transfer"} else {}
    for name in (s for s in todo if s != "transfer"):
        shape = shapes[name]
        n, d, m, seeds = shape["n"], shape["d"], shape["m"], shape["seeds"]
        floor = 2 * (2 * n * d * m + 2 * n * m * shape["C"]) / rate
        steps_ = max(4, int(0.25 / max(floor * seeds * 3, 1e-9)))  # ~0.25 s a call
        row = {**shape, "floor_ms": floor * 1e3, "steps_timed": steps_}
        for which, make in gd_step_makers(shape).items():
            t = marginal(make, steps_, steps_, args.repeats) / seeds
            row[which] = {**summary(t), "ratio": float(np.median(t)) / floor}
        row["speedup"] = row["before"]["median_s"] / row["after"]["median_s"]
        row["load"] = os.getloadavg()
        info["results"][name] = row
        print(
            f"{name:<11}{n:>6}{d:>4}{m:>6}  {'':>17}{floor * 1e3:>6.3f}"
            f"{row['before']['median_s'] * 1e3:>8.3f}{row['after']['median_s'] * 1e3:>8.3f}"
            f"  {row['before']['ratio']:>6.1f} / {row['after']['ratio']:<5.1f}"
            f"  {row['speedup']:>6.2f}x  {row['load'][0]:.1f}",
            flush=True,
        )
    if "transfer" in todo:
        from experiments import _asym, asym_regression

        split = _asym.load_split("concrete", asym_regression.PRESETS["paper"])
        n_train, n_test = split["x_transfer_train"].shape[0], split["x_transfer_test"].shape[0]
        make, heads = transfer_maker(n_train, n_test)
        t = marginal(make, 200, 200, args.repeats)
        per_head = t / heads
        # forward + backward of a 100 -> 64 -> 64 -> 1 head (features padded to max k = 100)
        flops = 3 * 2 * n_train * (100 * 64 + 64 * 64 + 64)
        row = {
            "heads_timed": heads,
            "n_train": n_train,
            "per_step_ms": summary(t)["median_s"] * 1e3,
            "per_head_step_us": float(np.median(per_head)) * 1e6,
            "floor_per_head_step_us": flops / rate * 1e6,
            "stage_seconds_400_heads_5000_steps": float(np.median(per_head)) * 400 * 5000,
            "load": os.getloadavg(),
        }
        row["ratio"] = row["per_head_step_us"] / row["floor_per_head_step_us"]
        info["results"]["transfer"] = row
        print(
            f"\ntransfer (concrete, {heads} heads, n {n_train}): {row['per_step_ms']:.3f} ms a "
            f"step, {row['per_head_step_us']:.1f} us a head-step (floor "
            f"{row['floor_per_head_step_us']:.2f}, {row['ratio']:.1f}x); 400 heads x 5000 "
            f"steps: {row['stage_seconds_400_heads_5000_steps']:.0f} s; load {row['load'][0]:.1f}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(info, indent=2) + "\n")
    print(f"\nwrote {args.out}")
    return info


if __name__ == "__main__":
    main()

"""Shared pieces of the asymmetrical-node-scaling experiments (Caron et al. 2023, §3).

The four configurations of the paper, the training of all of them over vmapped seeds, pruning and
transfer of the trained networks, the figure panels and the claims every script reports.
All networks use the official code's parameterization ("asym_code": input x 1/sqrt(d),
w ~ N(0, 2I)), so risks, node movements and NTG values are comparable with the paper's figures.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

import jaxntk
from experiments import _cli
from experiments._cli import Claim
from jaxntk import plotting, scaling

# (gamma, alpha) of the paper's four configurations (Zipf lam~ for gamma < 1).
PAPER_GAMMAS = ((1.0, 0.0), (0.5, 0.7), (0.2, 0.5), (0.0, 0.4))
HISTORY_FIELDS = (
    "step",
    "train_risk",
    "test_risk",
    "train_acc",
    "test_acc",
    "ntk_min_eig",
    "ntk_change",
    "node_movement",
)


def label(gamma: float, alpha: float) -> str:
    return "γ=1 (iid, NTK)" if gamma == 1 else f"γ={gamma:g}, α={alpha:g}"


def node_scale(width: int, gamma: float, alpha: float, dtype=jnp.float32):
    """sqrt(lam) for one configuration (Zipf with k = 1..m; iid for gamma = 1)."""
    if gamma == 1:
        lam = scaling.node_scales(None, width, gamma=1.0, kind="iid", dtype=dtype)
    else:
        import warnings

        with warnings.catch_warnings():  # gamma = 0 warns that the theory needs gamma > 0
            warnings.simplefilter("ignore", UserWarning)
            lam = scaling.node_scales(
                None, width, gamma=gamma, kind="zipf", alpha=alpha, dtype=dtype
            )
    return jnp.sqrt(lam)


def init_many(keys, in_dim: int, width: int, out_dim: int):
    """Initial parameters of every repetition, stacked on a leading axis."""
    return jax.vmap(
        lambda k: jaxntk.init_params(
            k, in_dim, width, out_dim, parameterization="asym_code", dtype=jnp.float32
        )
    )(keys)


def train_configs(
    keys, data: dict, width: int, gammas, gd_cfg: jaxntk.GDConfig, *, desc="", scales=None
):
    """Train every (gamma, alpha) for every key; repetitions are one vmapped call per config.

    Args:
      keys: (R,) PRNG keys, one network initialization per repetition (shared across configs,
        as the official runs share their data and differ only in the initialization).
      data: dict with x_train, y_train, x_test, y_test (float32).
      gammas: sequence of (gamma, alpha).
      scales: optional sqrt(lam) per configuration, replacing ``node_scale(width, *gammas[g])``
        (e.g. the official off-by-one Zipf, ``scaling.node_scales(..., kind="zipf_code")``).

    Returns:
      ``(params, scales, history)``: params stacked (G, R, ...), scales (G, width) and a dict of
      history arrays of shape (G, R, num_logs, ...).
    """
    arrays = {k: data[k] for k in ("x_train", "y_train", "x_test", "y_test")}
    params0 = init_many(keys, arrays["x_train"].shape[1], width, arrays["y_train"].shape[1])

    # Data and weights are arguments, not closed-over constants: XLA would constant-fold them.
    @jax.jit
    def train(params0, arrays, scale):
        def one(p):
            return jaxntk.train_gd(
                p,
                arrays["x_train"],
                arrays["y_train"],
                gd_cfg,
                node_scale=scale,
                x_test=arrays["x_test"],
                y_test=arrays["y_test"],
            )

        return jax.vmap(one)(params0)

    given = scales
    params, scales, history = [], [], {}
    for g, (gamma, alpha) in enumerate(tqdm(gammas, desc=desc or f"width {width}", leave=False)):
        scale = node_scale(width, gamma, alpha) if given is None else given[g]

        def one_config(scale=scale):  # one checkpointed stage (experiments._cli.stage)
            every = _cli.checkpoint_every()
            if every is None:
                p, h = train(params0, arrays, scale)
            else:
                p, h = _train_in_chunks(params0, arrays, scale, gd_cfg, every)
            fields = {n: getattr(h, n) for n in HISTORY_FIELDS if getattr(h, n) is not None}
            return {"params": p, "history": fields}

        done = _cli.stage(f"train_{desc or 'width'}_{width}_config{g}", one_config)
        params.append(done["params"])
        scales.append(scale)
        for name, value in done["history"].items():
            history.setdefault(name, []).append(value)
    stacked = jax.tree_util.tree_map(lambda *a: jnp.stack(a), *params)
    return stacked, jnp.stack(scales), {k: np.stack(v) for k, v in history.items()}


def _train_in_chunks(params0, arrays, scale, gd_cfg, every: int):
    """``train``'s vmapped GD run in chunks of ``every`` steps, each saved as the stage's progress
    (``_cli.save_progress``); a resumed stage continues from the last one."""
    if every % gd_cfg.log_every:
        raise ValueError(
            f"--checkpoint-every {every} must be a multiple of log_every={gd_cfg.log_every} "
            "(a checkpoint holds whole logs); round it"
        )
    x, y, xt, yt = (arrays[k] for k in ("x_train", "y_train", "x_test", "y_test"))

    @jax.jit
    def start(params0, scale):
        def one(p):
            return jaxntk.gd.start(p, x, y, gd_cfg, node_scale=scale, x_test=xt, y_test=yt)

        return jax.vmap(one)(params0)

    @functools.partial(jax.jit, static_argnames="num_logs")
    def advance(params0, scale, carry, first_log, num_logs):
        def one(p, c):
            return jaxntk.gd.advance(p, x, y, gd_cfg, c, first_log, num_logs, node_scale=scale,
                                     x_test=xt, y_test=yt)  # fmt: skip

        return jax.vmap(one)(params0, carry)

    @jax.jit
    def finish(params0, scale, raw):
        return jax.vmap(lambda p, h: jaxntk.gd.finish(p, x, gd_cfg, h, node_scale=scale))(
            params0, raw
        )

    carry_shape, log_shape = jax.eval_shape(start, params0, scale)
    treedef = jax.tree_util.tree_structure(carry_shape)
    fields = [f for f in jaxntk.GDHistory._fields if getattr(log_shape, f) is not None]
    saved = _cli.load_progress()
    if saved is None:
        carry, first = start(params0, scale)
        raw = {f: np.asarray(getattr(first, f))[:, None] for f in fields}  # (R, logs, ...)
        done = 1
    else:
        tree, done = saved
        leaves = [tree["carry"][str(i)] for i in range(treedef.num_leaves)]
        carry = jax.tree_util.tree_unflatten(treedef, [jnp.asarray(v) for v in leaves])
        raw = tree["history"]
    logs_per_chunk = every // gd_cfg.log_every
    while done < gd_cfg.num_logs:
        size = min(logs_per_chunk, gd_cfg.num_logs - done)
        carry, rest = advance(params0, scale, carry, done, size)
        raw = {f: np.concatenate([raw[f], np.asarray(getattr(rest, f))], axis=1) for f in fields}
        done += size
        leaves = jax.tree_util.tree_leaves(carry)
        _cli.save_progress(
            {"carry": {str(i): v for i, v in enumerate(leaves)}, "history": raw}, done
        )
    history = jaxntk.GDHistory(**{f: (jnp.asarray(raw[f]) if f in raw else None)
                                  for f in jaxntk.GDHistory._fields})  # fmt: skip
    return {**params0, "w": carry[0]}, finish(params0, scale, history)


def top_node_movement(node_movement):
    """The paper's `wdiff`: per run, the node that moved most by the end, its curve over time.

    node_movement: (..., L, width) -> (..., L).
    """
    movement = np.asarray(node_movement)
    top = movement[..., -1, :].argmax(axis=-1)
    return np.take_along_axis(movement, top[..., None, None], axis=-1)[..., 0]


def prune_all(params, scales, data: dict, counts):
    """Prune curves for every (config, repetition): dict of (G, R, len(counts)) arrays."""
    counts = jnp.asarray(counts)

    def one(p, s):
        c = jaxntk.prune_curve(
            p,
            s,
            data["x_train"],
            data["y_train"],
            counts,
            x_test=data["x_test"],
            y_test=data["y_test"],
        )
        return {k: v for k, v in c._asdict().items() if v is not None and k != "counts"}

    per_config = jax.vmap(jax.vmap(one, in_axes=(0, None)), in_axes=(0, 0))
    return {k: np.asarray(v) for k, v in per_config(params, scales).items()}


def transfer_all(key, params, scales, data: dict, ks, head, *, standardize: bool):
    """Transfer curves for every (config, repetition) on the transfer split."""
    ks = jnp.asarray(ks)
    num_configs, num_runs = scales.shape[0], jax.tree_util.tree_leaves(params)[0].shape[1]
    keys = jax.random.split(key, num_configs * num_runs).reshape(num_configs, num_runs)

    def one(k, p, s):
        c = jaxntk.transfer_curve(
            k,
            p,
            s,
            data["x_transfer_train"],
            data["y_transfer_train"],
            data["x_transfer_test"],
            data["y_transfer_test"],
            ks,
            head,
            standardize_features=standardize,
        )
        return {k_: v for k_, v in c._asdict().items() if v is not None and k_ != "ks"}

    per_config = jax.jit(jax.vmap(jax.vmap(one, in_axes=(0, 0, None)), in_axes=(0, 0, 0)))
    return {k: np.asarray(v) for k, v in per_config(keys, params, scales).items()}


def load_split(name: str, cfg) -> dict:
    """The official split of data set ``name`` as float32 arrays, each capped at cfg.max_points.

    UCI sets are permuted with ``cfg.split_seed`` (the official seed 10); the MNIST family and
    feature files have fixed splits.
    """
    from jaxntk import data as jdata

    key = jax.random.key(cfg.split_seed) if name in jdata.SEEDED else None
    ds = jdata.load(name, key=key, **dict(cfg.data_options))
    fields = (
        "x_train",
        "y_train",
        "x_test",
        "y_test",
        "x_transfer_train",
        "y_transfer_train",
        "x_transfer_test",
        "y_transfer_test",
    )
    cap = cfg.max_points or None
    out = {}
    for f in fields:
        value = getattr(ds, f)
        out[f] = None if value is None else jnp.asarray(value[:cap], jnp.float32)
    return out


def pipeline(cfg, d: dict) -> dict[str, np.ndarray]:
    """Train every configuration (vmapped seeds), then prune and transfer the trained networks.

    ``cfg`` needs: width, lr, num_steps, log_every, ntk_points, loss, prune_step, ks,
    head_hidden, head_lr, head_steps, num_seeds, seed, gammas. Transfer runs when ``d`` has a
    transfer split, once on the official features (with their sqrt(lam) factor) and once
    standardised (keys ``transfer_*`` and ``transfer_*_std``).
    """
    from experiments._cli import seed_keys

    _, keys = seed_keys(cfg)
    gd_cfg = jaxntk.GDConfig(
        cfg.lr,
        cfg.num_steps,
        cfg.log_every,
        loss=cfg.loss,
        ntk_points=min(cfg.ntk_points, d["x_train"].shape[0]),
    )
    params, scales, history = train_configs(keys, d, cfg.width, cfg.gammas, gd_cfg)
    counts = np.arange(0, cfg.width + 1, cfg.prune_step)
    if counts[-1] != cfg.width:
        counts = np.append(counts, cfg.width)
    out = {**history, "prune_counts": counts}
    out.update({f"prune_{k}": v for k, v in prune_all(params, scales, d, counts).items()})
    if d.get("x_transfer_train") is not None:
        head = jaxntk.HeadConfig(tuple(cfg.head_hidden), cfg.head_lr, cfg.head_steps)
        key_head = jax.random.fold_in(jax.random.key(cfg.seed), 1)
        ks = [k for k in cfg.ks if k <= cfg.width]
        out["ks"] = np.asarray(ks)
        for std in (False, True):
            curves = transfer_all(key_head, params, scales, d, ks, head, standardize=std)
            suffix = "_std" if std else ""
            out.update({f"transfer_{k}{suffix}": v for k, v in curves.items()})
    return out


# ----------------------------------------------------------------------------------------------
# Figures


def training_panels(axes, results: dict, gammas, *, prefix: str = "", accuracy: bool = False):
    """Risk (or accuracy), top-node movement, ||Theta_t - Theta_0||_2 and lambda_min panels.

    ``axes``: 5 axes (train, test, movement, NTG change, min eigenvalue). Step 0 is dropped
    from the risk panels (log scale), as the official notebooks do.
    """
    steps = results[prefix + "step"][0, 0]
    metric = "acc" if accuracy else "risk"
    for g, (gamma, alpha) in enumerate(gammas):
        color, name = f"C{g}", label(gamma, alpha)
        for ax, key in zip(axes[:2], (f"train_{metric}", f"test_{metric}")):
            plotting.plot_band(
                ax, steps[1:], results[prefix + key][g][:, 1:], color=color, label=name
            )
        plotting.plot_band(
            axes[2],
            steps,
            top_node_movement(results[prefix + "node_movement"][g]),
            color=color,
            label=name,
        )
        plotting.plot_band(
            axes[3], steps, results[prefix + "ntk_change"][g], color=color, label=name
        )
        plotting.plot_band(
            axes[4], steps, results[prefix + "ntk_min_eig"][g], color=color, label=name
        )
    ylabel = "accuracy" if accuracy else "risk mean((f−y)²)"
    axes[0].set(title="training " + ("accuracy" if accuracy else "risk"), ylabel=ylabel)
    axes[1].set(title="test " + ("accuracy" if accuracy else "risk"), ylabel=ylabel)
    if not accuracy:
        axes[0].set_yscale("log")
        axes[1].set_yscale("log")
    axes[2].set(title="top-node movement", ylabel="max_j ‖w_j(t) − w_j(0)‖")
    axes[3].set(title="NTG change", ylabel="‖Θ_t − Θ_0‖₂ (spectral norm)")
    axes[4].set(title="NTG smallest eigenvalue", ylabel="λ_min(Θ_t)", yscale="log")
    for ax in axes:
        ax.set_xlabel("GD step")
    axes[0].legend(fontsize=7)


def prune_panel(ax, results: dict, gammas, *, accuracy: bool = False):
    """Test risk (or accuracy) against the number of pruned nodes, from ``pipeline``'s results."""
    metric = "acc" if accuracy else "risk"
    for g, (gamma, alpha) in enumerate(gammas):
        plotting.plot_band(
            ax,
            results["prune_counts"],
            results[f"prune_test_{metric}"][g],
            color=f"C{g}",
            label=label(gamma, alpha),
        )
    ax.set(
        title="pruning (no retraining)",
        xlabel="nodes pruned (ascending λ)",
        ylabel="test accuracy" if accuracy else "test risk",
    )


def transfer_panels(axes, results: dict, gammas, *, accuracy: bool = False):
    """Transfer test risk (or accuracy) against k: official features, then standardised ones."""
    metric = "acc" if accuracy else "risk"
    for ax, suffix, what in (
        (axes[0], "", "official features (with √λ)"),
        (axes[1], "_std", "standardised features"),
    ):
        for g, (gamma, alpha) in enumerate(gammas):
            plotting.plot_band(
                ax,
                results["ks"],
                results[f"transfer_test_{metric}{suffix}"][g],
                color=f"C{g}",
                label=label(gamma, alpha),
            )
        ax.set(
            title=f"transfer, {what}",
            xlabel="features k (top λ)",
            ylabel="transfer test accuracy" if accuracy else "test risk",
        )


# ----------------------------------------------------------------------------------------------
# Claims shared by the scripts


def gamma_index(gammas, gamma: float) -> int | None:
    for g, (value, _) in enumerate(gammas):
        if value == gamma:
            return g
    return None


def feature_learning_claim(movement_final, gammas, where: str) -> list[Claim]:
    """Top-node movement of gamma = 0.5 vs gamma = 1 (paper §3.8 item 3: 1-2 orders)."""
    i1, i5 = gamma_index(gammas, 1.0), gamma_index(gammas, 0.5)
    if i1 is None or i5 is None:
        return []
    ratio = float(np.mean(movement_final[i5]) / np.mean(movement_final[i1]))
    return [
        Claim(
            "asymmetric",
            f"feature learning iff γ < 1 ({where}): the top node moves far more at γ = 0.5",
            f"top-node movement γ=0.5 / γ=1 = {ratio:.1f}",
            ratio,
            ratio > 2.0,
            "ratio > 2 (the paper's figures: 3.3 on airfoil and MNIST, 7.8 simulated)",
        )
    ]


def convergence_claim(train_risk, gammas, where: str) -> list[Claim]:
    """Every gamma > 0 reduces the training risk (paper §3.8 item 1)."""
    final = np.asarray(train_risk)[..., -1].mean(axis=-1)  # (G,)
    start = np.asarray(train_risk)[..., 0].mean(axis=-1)
    positive = [g for g, (gamma, _) in enumerate(gammas) if gamma > 0]
    worst = float(max(final[g] / start[g] for g in positive))
    return [
        Claim(
            "asymmetric",
            f"GD converges for every γ > 0 ({where})",
            f"largest final/initial training risk over γ > 0 = {worst:.3g}",
            worst,
            worst < 0.2,
            "< 0.2",
        )
    ]

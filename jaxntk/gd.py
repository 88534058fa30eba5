r"""Full-batch gradient descent on W with Neural Tangent Gram diagnostics logged in the scan.

Caron et al. (arXiv 2302.01002) train f(x) = sum_j sqrt(lam_j) a_j relu(w_j . x) by plain
full-batch GD on W and, every ``thinning = 1000`` steps, log the train/test risk, the NTG of the
first training points (its smallest eigenvalue and its change ||Theta_t - Theta_0||_2) and how
far every node moved, ||w_j(t) - w_j(0)||. Here all of that happens inside one compiled
``lax.scan`` (an outer scan over log points around an inner scan of ``log_every`` optax steps):
no host round-trip per step, and ``jax.vmap`` over seeds (or over node scales of equal width)
runs many trainings in one compiled call (on CPU one after another, which is faster there:
``_in_turn``). The steps descend ``jaxntk.fullbatch``'s loss, whose gradient is written out.

The NTG is the closed form of ``jaxntk.ntk.closed_form`` (averaged over outputs, i.e.
neural-tangents' ``trace_axes=(-1,)``; with a_cj = +-1 every per-output kernel is the same).
Risk is always the mean squared error mean((f - y)^2) over rows and outputs (what the paper's
figures plot), whatever loss the steps descend.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxntk import (
    _validate,
    distributed,
    divergence,
    fullbatch,
    losses,
    metrics,
    ntk,
    runner,
    steps,
)
from jaxntk import checkpoint as checkpoint_io
from jaxntk.model import apply


@dataclasses.dataclass(frozen=True)
class GDConfig:
    """Settings of ``train_gd``.

    Attributes:
      lr: learning rate (1.0 with ``loss="mean"`` in the official code).
      num_steps: GD steps; a multiple of ``log_every``.
      log_every: steps between logs (the official ``thinning`` = 1000); logs at step 0 too.
      loss: "half_sum" (the theory), "half_mean" or "mean" (the official code's MSELoss).
      ntk_points: the NTG is taken on the first ``ntk_points`` training points (the official
        regression/MNIST runs use 50); None for all of them (the official simulated run).
      momentum: optax SGD momentum (0: plain GD, as in the paper).
      record_ntk: also keep every logged NTG, (num_logs, P, P), in ``history.ntk``.
    """

    lr: float
    num_steps: int
    log_every: int = 1000
    loss: str = "half_sum"
    ntk_points: int | None = 50
    momentum: float = 0.0
    record_ntk: bool = False

    def __post_init__(self):
        _validate.positive("lr", self.lr)
        _validate.integer("num_steps", self.num_steps, minimum=0)
        _validate.integer("log_every", self.log_every, minimum=1)
        _validate.choice("loss", self.loss, losses.LOSSES)
        if self.ntk_points is not None:
            _validate.integer("ntk_points", self.ntk_points, minimum=1)
        _validate.fraction("momentum", self.momentum, below_one=True)
        # A frozen dataclass: normalise the flag in place, so a checkpoint's fingerprint and the
        # static structure see one spelling of it (True, not 1).
        object.__setattr__(self, "record_ntk", _validate.boolean("record_ntk", self.record_ntk))
        if self.num_steps % self.log_every:
            raise ValueError(
                f"num_steps={self.num_steps} must be a multiple of log_every={self.log_every} "
                "(logs fall on a fixed grid, for static shapes); round one of them"
            )

    @classmethod
    def paper(cls, num_steps: int = 50_000, **overrides) -> GDConfig:
        """The official code's settings: lr 1, mean-MSE, logs every 1000 steps."""
        return cls(
            **{"lr": 1.0, "num_steps": num_steps, "log_every": 1000, "loss": "mean", **overrides}
        )

    @property
    def num_logs(self) -> int:
        return self.num_steps // self.log_every + 1


class GDHistory(NamedTuple):
    """What ``train_gd`` logs at steps 0, log_every, 2 log_every, ... (leading axes if vmapped).

    Attributes:
      step: (L,) step of each log.
      train_risk, test_risk: (L,) mean((f - y)^2); test_risk is None without test data.
      train_acc, test_acc: (L,) argmax agreement for C > 1 outputs (one-hot targets), else None.
      ntk_min_eig: (L,) smallest eigenvalue of the NTG on the first ``ntk_points`` points.
      ntk_change: (L,) ||Theta_t - Theta_0||_2, the spectral norm itself (the official code plots
        its square root under this label).
      node_movement: (L, width) ||w_j(t) - w_j(0)|| of every node j.
      ntk: (L, P, P) the NTGs when ``cfg.record_ntk``, else None.
    """

    step: jax.Array
    train_risk: jax.Array
    test_risk: jax.Array | None
    train_acc: jax.Array | None
    test_acc: jax.Array | None
    ntk_min_eig: jax.Array
    ntk_change: jax.Array
    node_movement: jax.Array
    ntk: jax.Array | None


# The figures' risk and accuracy live in jaxntk.metrics; these names stay for existing callers.
mse = metrics.risk
accuracy = metrics.accuracy


def check_node_scale(params, node_scale) -> None:
    """Refuse sqrt(lam) node scales on a network whose output scale already is 1/sqrt(m).

    sqrt(lam) with sum(lam) = 1 carries the NTK parameterization's 1/sqrt(m) (lam = 1/m at
    gamma = 1): on "ntk" parameters it would be applied twice. Checked only on concrete values;
    masks and other scales whose squares do not sum to 1 pass.
    """
    if node_scale is None or isinstance(node_scale, jax.core.Tracer):
        return
    out_scale = params["out_scale"]
    if isinstance(out_scale, jax.core.Tracer):
        return
    squares = float(jnp.sum(jnp.asarray(node_scale, jnp.float32) ** 2))
    if abs(squares - 1.0) < 1e-3 and abs(float(out_scale) - 1.0) > 1e-6:
        raise ValueError(
            f"node_scale looks like sqrt(lam) with sum(lam) = 1, but params have out_scale="
            f"{float(out_scale):.4g}: lam = 1/m already carries the NTK 1/sqrt(m). Build params "
            "with jaxntk.init_params(..., parameterization='scaled') (or 'asym_code')"
        )


def check_inputs(params, x, y, node_scale, x_test=None, y_test=None) -> None:
    """Train (and optional test) data matching the network, and a sensible node scale."""
    _validate.model_data(params, x, y, node_scale)
    if (x_test is None) != (y_test is None):
        raise ValueError("pass both x_test and y_test, or neither")
    if x_test is not None:
        _validate.model_data(params, x_test, y_test, names=("x_test", "y_test"))
    check_node_scale(params, node_scale)


def train_gd(params: dict, x, y, cfg: GDConfig, *, node_scale=None, x_test=None, y_test=None,
             checkpoint=None, checkpoint_every=None, resume=False,
             divergence_factor=divergence.DEFAULT_FACTOR):  # fmt: skip
    """Full-batch GD (optax SGD) on ``params["w"]`` with in-scan diagnostics.

    Args:
      params: from ``jaxntk.init_params`` ("scaled" or "asym_code" with node scales).
      x, y: (n, in_dim) training inputs and (n, out_dim) targets, dtype of ``params["w"]``.
      cfg: a ``GDConfig``.
      node_scale: (width,) per-node scale, sqrt(lam) from ``jaxntk.scaling.node_scales``.
      x_test, y_test: optional test set for ``test_risk`` / ``test_acc``.
      checkpoint: optional path of a ``.npz`` checkpoint: the steps run in chunks of
        ``checkpoint_every`` (one compiled chunk, reused) and after every chunk the state
        (weights, optimizer state, steps done, history so far; the inputs as a fingerprint) is
        written there atomically. The file of a finished run is kept.
      checkpoint_every: steps per chunk, a multiple of ``cfg.log_every`` (default: one chunk).
      resume: continue from ``checkpoint`` if it exists (same inputs and configuration, else
        ``CheckpointError``); bitwise equal to an uninterrupted run with the same
        ``checkpoint_every``. False starts again and overwrites it.
      divergence_factor: raise ``jaxntk.DivergenceError`` when the logged training risk becomes
        non-finite or exceeds this multiple of its initial value (None: no check). Checked on the
        host after the run (after every chunk with ``checkpoint``); skipped under jit/vmap.

    Returns:
      ``(params, history)``: trained parameters and a ``GDHistory``.

    ``jax.vmap(lambda p, s: train_gd(p, x, y, cfg, node_scale=s))(params_r, scales_r)`` runs R
    trainings (seeds, or gamma configurations of one width) in one compiled call (on CPU one
    after another: ``_in_turn``).
    """
    _validate.instance("cfg", cfg, GDConfig, "jaxntk.GDConfig")
    check_inputs(params, x, y, node_scale, x_test, y_test)
    factor, every = check_run(cfg, params, x, y, checkpoint, checkpoint_every, resume,
                              divergence_factor)  # fmt: skip
    if not divergence.is_traced(params, x, y, node_scale, x_test, y_test):
        distributed.check_same("train_gd", params=params, x=x, y=y, cfg=cfg,
                               node_scale=node_scale, x_test=x_test, y_test=y_test)  # fmt: skip
    fingerprint = None
    if checkpoint is not None:
        fingerprint = {
            "kind": "train_gd",
            "config": dataclasses.asdict(cfg),
            "inputs": checkpoint_io.input_digests(
                params, x=x, y=y, node_scale=node_scale, x_test=x_test, y_test=y_test
            ),
        }
    data = {"node_scale": node_scale, "x_test": x_test, "y_test": y_test}
    carry, first = start(params, x, y, cfg, **data)

    def chunk(carry, done, size):  # log 0 is ``first``: chunk logs are numbered from 1
        return advance(params, x, y, cfg, carry, done + 1, size, **data)

    def history_of(logs) -> GDHistory:
        return finish(params, x, cfg, join(first, logs), node_scale=node_scale)

    def check(logs):
        risk = np.concatenate([np.asarray(first.train_risk)[None], np.asarray(logs.train_risk)])
        check_divergence(risk, lambda: history_of(logs), factor, cfg, params, x, node_scale)

    carry, logs = runner.run(
        chunk, carry, cfg.num_logs - 1, every=every, checkpoint=checkpoint,
        fingerprint=fingerprint, resume=resume, check=None if factor is None else check,
    )  # fmt: skip
    return {**params, "w": carry[0]}, history_of(logs)


def check_run(cfg, params, x, y, checkpoint, checkpoint_every, resume, divergence_factor):
    """The run-level arguments of ``train_gd`` (and ``sweep_gd``), ``cfg`` a checked
    ``GDConfig``: ``(factor, every)``, the divergence factor (or None) and the logs per
    checkpoint chunk (None: one chunk)."""
    points = x.shape[0] if cfg.ntk_points is None else cfg.ntk_points
    if points > x.shape[0]:
        raise ValueError(f"ntk_points={points} exceeds the {x.shape[0]} training points")
    factor = divergence.factor(divergence_factor)
    every = _validate.checkpointing(
        checkpoint, checkpoint_every, resume, traced=divergence.is_traced(params, x, y)
    )
    if every is not None and every % cfg.log_every:
        raise ValueError(
            f"checkpoint_every={every} must be a multiple of log_every={cfg.log_every} "
            "(a checkpoint holds whole logs); round it"
        )
    return factor, None if every is None else every // cfg.log_every


def check_divergence(risk, history, factor, cfg, params, x, node_scale, *, what="train_gd"):
    """``divergence.check`` on the logged training risk; ``history()`` is built only on failure."""

    def cut(i):
        return jax.tree_util.tree_map(lambda a: a[: i + 1], history())

    steps_logged = cfg.log_every * np.arange(risk.shape[0])
    divergence.check(
        risk, steps_logged, what=what, unit="step", lr=cfg.lr,
        divergence_factor=factor, cut=cut, params=params, x=x, loss=cfg.loss,
        node_scale=node_scale, quantity="training risk mean((f-y)^2)",
    )  # fmt: skip


class _Structure(NamedTuple):
    log_every: int
    loss: str
    ntk_points: int
    record_ntk: bool
    momentum: float


def _structure(cfg: GDConfig, n: int) -> _Structure:
    points = n if cfg.ntk_points is None else cfg.ntk_points
    return _Structure(cfg.log_every, cfg.loss, points, cfg.record_ntk, cfg.momentum)


def _optimizer(lr, momentum):
    return optax.sgd(lr, momentum=momentum or None)


def _parts(params, x, y, node_scale, x_test, y_test, lr, structure: _Structure):
    """The optimizer, the diagnostics at a log and one log's worth of GD steps (a scan body)."""
    loss_of_w = fullbatch.loss_fn(params, x, y, structure.loss, node_scale=node_scale)
    optimizer = _optimizer(lr, structure.momentum)
    x_ntk = x[: structure.ntk_points]
    classify = y.shape[1] > 1
    w0 = params["w"]

    def predict(w, inputs):
        return apply({**params, "w": w}, inputs, node_scale=node_scale)

    def diagnostics(w, step):
        # The NTG is kept and its spectrum taken after the loop, in one batched eigvalsh: a
        # LAPACK call inside a vmapped scan could hang jax 0.10.2's CPU runtime (float32 under
        # x64); the (num_logs, P, P) NTGs are small (P = 50: 20 kB per log in float64).
        pred = predict(w, x)
        test_pred = None if x_test is None else predict(w, x_test)
        return GDHistory(
            step=step,
            train_risk=metrics.risk(pred, y),
            test_risk=None if x_test is None else metrics.risk(test_pred, y_test),
            train_acc=metrics.accuracy(pred, y) if classify else None,
            test_acc=(
                metrics.accuracy(test_pred, y_test) if classify and x_test is not None else None
            ),
            ntk_min_eig=None,
            ntk_change=None,
            node_movement=metrics.node_movement(w, w0),
            ntk=ntk.closed_form({**params, "w": w}, x_ntk, node_scale=node_scale),
        )

    def chunk(carry, log_index):
        w, opt_state = carry
        descent = steps.descend(loss_of_w, w, optimizer, structure.log_every, opt_state=opt_state)
        return (descent.params, descent.opt_state), diagnostics(
            descent.params, log_index * structure.log_every
        )

    return optimizer, diagnostics, chunk


# ``train_gd`` in pure, vmappable pieces — what it runs itself (through ``jaxntk.runner``) and what
# callers that batch runs use (the experiments vmap them over seeds): start -> advance ... ->
# join -> finish. No input checks here: ``check_inputs`` (or one ``train_gd`` call) does them.


@functools.partial(jax.jit, static_argnames=("structure",))
def _start(params, x, y, node_scale, x_test, y_test, lr, structure):
    optimizer, diagnostics, _ = _parts(params, x, y, node_scale, x_test, y_test, lr, structure)
    w0 = params["w"]
    return (w0, optimizer.init(w0)), diagnostics(w0, jnp.asarray(0))


@functools.partial(jax.jit, static_argnames=("structure", "num_logs"))
def _logs(params, x, y, node_scale, x_test, y_test, lr, carry, first_log, structure, num_logs):
    def logs(params, x, y, node_scale, x_test, y_test, lr, carry, first_log):
        _, _, chunk = _parts(params, x, y, node_scale, x_test, y_test, lr, structure)
        log_index = jnp.arange(num_logs) + jnp.asarray(first_log, jnp.arange(1).dtype)
        return jax.lax.scan(chunk, carry, log_index)

    return _in_turn(logs)(params, x, y, node_scale, x_test, y_test, lr, carry, first_log)


def _in_turn(fn):
    """``fn`` whose ``jax.vmap`` on CPU runs the batch's runs one after another (``lax.map``).

    Runs (seeds, node scales) do not interact, so only the speed changes: XLA:CPU turns a
    vmapped step into batched matmuls over R runs whose activations no longer fit in cache, and
    measured per run at the paper shapes (5 seeds, ``benchmarks/gd_step.py``) that cost 1.2-2.8x
    the time of one run after another. On other backends (not measured here) a plain vmap.
    """
    sequential = jax.custom_batching.sequential_vmap(fn)
    batched = jax.custom_batching.custom_vmap(fn)

    @batched.def_vmap
    def rule(axis_size, in_batched, *args):
        del axis_size
        in_axes = tuple(jax.tree_util.tree_map(lambda b: 0 if b else None, list(in_batched)))
        run = sequential if jax.default_backend() == "cpu" else fn
        out = jax.vmap(run, in_axes=in_axes)(*args)
        return out, jax.tree_util.tree_map(lambda _: True, out)

    return batched


@functools.partial(jax.jit, static_argnames=("structure",))
def _finish(params, x, node_scale, history: GDHistory, structure: _Structure) -> GDHistory:
    theta0 = ntk.closed_form(params, x[: structure.ntk_points], node_scale=node_scale)
    return history._replace(
        ntk_min_eig=metrics.ntg_min_eig(history.ntk),
        ntk_change=metrics.ntg_change(history.ntk, theta0),
        ntk=history.ntk if structure.record_ntk else None,
    )


def _lr(cfg: GDConfig, params):
    return jnp.asarray(cfg.lr, params["w"].dtype)


def start(params, x, y, cfg: GDConfig, *, node_scale=None, x_test=None, y_test=None):
    """``(carry, log)``: carry = (w, optax state) at step 0 and the raw log of step 0.

    A raw log is a ``GDHistory`` whose ``ntk`` holds the NTG and whose spectra are still None
    (``finish`` takes them).
    """
    structure = _structure(cfg, x.shape[0])
    return _start(params, x, y, node_scale, x_test, y_test, _lr(cfg, params), structure)


def advance(params, x, y, cfg: GDConfig, carry, first_log, num_logs: int, *, node_scale=None,
            x_test=None, y_test=None):  # fmt: skip
    """``num_logs`` (static) more logs of GD from ``carry``, numbered from ``first_log`` (traced).

    Returns ``(carry, logs)``, logs a raw ``GDHistory`` with a leading (num_logs,) axis.
    """
    structure = _structure(cfg, x.shape[0])
    return _logs(params, x, y, node_scale, x_test, y_test, _lr(cfg, params), carry, first_log,
                 structure, num_logs)  # fmt: skip


def join(first: GDHistory, logs: GDHistory) -> GDHistory:
    """The raw logs of a whole run: ``start``'s log 0 before the ``advance`` logs (leading axis);
    under ``jax.vmap`` for a batch of runs."""
    return jax.tree_util.tree_map(
        lambda a, b: jnp.concatenate([a[None], jnp.asarray(b, a.dtype)]), first, logs
    )


def finish(params, x, cfg: GDConfig, history: GDHistory, *, node_scale=None) -> GDHistory:
    """The ``GDHistory`` of ``train_gd`` from the concatenated raw logs (NTG spectra taken)."""
    return _finish(params, x, node_scale, history, _structure(cfg, x.shape[0]))

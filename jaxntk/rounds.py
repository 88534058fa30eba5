r"""One round of masked training, computed four ways that give the same numbers.

A round (``jaxntk.train``) samples K masks, trains K surrogates for tau full-batch SGD steps from
the round's W and averages every neuron over the surrogates that held it. The work is
compute-bound (matrix products), so speed comes from doing less arithmetic:

``plain``         the reference: every surrogate computes all m neurons, multiplied by 0/1.
``compact``       surrogate l computes only its kept neurons, gathered into a static capacity c
                  (``capacity``); padding slots have node scale 0, so they add nothing to the output
                  and get a zero gradient (inert). A round takes the smallest of a few static
                  capacities (``buckets``, then ``capacity``) that holds its fullest surrogate;
                  past them all it runs uncompacted (``lax.switch``): exact always.
``gram``          the local steps in pre-activation space. With X~ = in_scale X and Z = X~ W^T,
                  an SGD step W <- W - lr G^T X~ (G = dL/dZ) is Z <- Z - lr K G with K = X~ X~^T
                  (n x n): tau steps cost n^2 m each instead of 2 n d m, the round's Z is shared by
                  all K surrogates, and the weights move once per round,
                  W <- W - lr (sum of the surrogates' averaged sum_t G_t)^T X~. Pays off when n < d.
``gram_compact``  both.

Per-step SGD is linear in the gradient, so these are exact rewrites; they differ from ``plain``
only by float rounding (tests: 1e-5 relative in float32 after several rounds). ``choose_path``
picks the cheapest from the shapes by counting multiply-adds (``costs``).

Everything here takes a leading batch axis B of independent runs (``jaxntk.sweep``; a single
``train_masked`` is B = 1), so the capacity choice of the compact paths is one ``lax.switch`` for
the whole batch: under a user's ``jax.vmap`` it would become a ``select`` that computes every
branch. Round r's masks are ``jaxntk.masks.sample(fold_in(key, r), ...)``, whose first K rows do
not depend on how many are drawn: a sweep pads K to its maximum and every cell still equals its
own run. Every path uses ``jaxntk.model``'s forward pieces, ``jaxntk.steps.descend`` for the local
steps and ``jaxntk.masks.average`` for the aggregation.
"""

from __future__ import annotations

import functools
import math
from statistics import NormalDist
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxntk import _validate, layout, losses, masks, model, steps

PATHS = ("auto", "plain", "compact", "gram", "gram_compact")
# Compact capacity: mean + this many binomial standard deviations (+1), rounded up to a multiple
# of 8. A surrogate exceeds it with probability < 3e-7 per draw; such a round runs uncompacted.
CAPACITY_SDS = 5.0
# Compaction gathers and scatters; below this saving it is not worth it.
COMPACT_MIN_SAVING = 0.8
# Smaller capacities tried first: a round runs at the smallest that holds its fullest surrogate
# (``lax.switch``), as the 5-sd capacity pads ~25% at m = 500, xi = 0.5. Each is sized so that
# a round's fullest surrogate exceeds it with about this probability (normal approximation).
BUCKET_TAILS = (0.1, 0.01)
# Each bucket is one more compiled branch of the round; below this many multiply-adds per round
# (~0.1 s on a 2-core CPU) the ~10% they save does not repay compiling them.
BUCKET_MIN_MACS = 1e10


class Plan(NamedTuple):
    """The static part of a run: shapes, branches and the execution path."""

    num_subnets: int  # K_max: surrogates computed per round (cells may use fewer)
    local_steps: int
    num_rounds: int
    mask: str
    unsampled: str
    loss: str
    path: str  # "plain", "compact", "gram" or "gram_compact" (resolved, never "auto")
    capacity: int  # neurons per surrogate in the compact paths (the width otherwise)
    mesh: jax.sharding.Mesh | None = None  # the runs and surrogates axes (``jaxntk.layout``)
    buckets: tuple[int, ...] = ()  # smaller compact capacities, ascending (``buckets``)


def _slots(width: int, keep_prob: float, sds: float) -> int:
    """Binomial(width, keep_prob) mean + ``sds`` sd (+1), rounded up to a multiple of 8."""
    mean = width * keep_prob
    sd = math.sqrt(width * keep_prob * (1.0 - keep_prob))
    return 8 * math.ceil((mean + sds * sd + 1.0) / 8)


def capacity(width: int, keep_prob: float) -> int:
    """Static number of neuron slots per compact surrogate that keeps each neuron w.p. keep_prob."""
    return min(width, _slots(width, keep_prob, CAPACITY_SDS))


def buckets(width: int, keep_prob: float, num_surrogates: int, cap: int,
            round_macs: float | None = None) -> tuple[int, ...]:  # fmt: skip
    """Compact capacities below ``cap`` for rounds of ``num_surrogates`` Bernoulli(keep_prob)
    surrogates: the round's fullest one exceeds bucket b with probability ~ BUCKET_TAILS[b].

    Empty when a round costs fewer than ``BUCKET_MIN_MACS`` multiply-adds (``round_macs``, e.g.
    from ``costs``; None: always).
    """
    if round_macs is not None and round_macs < BUCKET_MIN_MACS:
        return ()
    found = set()
    for tail in BUCKET_TAILS:
        per_surrogate = 1.0 - (1.0 - tail) ** (1.0 / num_surrogates)
        size = _slots(width, keep_prob, NormalDist().inv_cdf(1.0 - per_surrogate))
        if size < cap:
            found.add(size)
    return tuple(sorted(found))


def plan_buckets(path: str, n, in_dim, width, out_dim, plan_like, keep_prob, batch: int,
                 cap: int) -> tuple[int, ...]:  # fmt: skip
    """``buckets`` for a resolved ``path`` on a batch of ``batch`` runs (() off the compact paths):
    the batch's fullest surrogate decides a round's capacity, and its cost is the batch's."""
    if "compact" not in path:
        return ()
    macs = batch * costs(n, in_dim, width, out_dim, plan_like, cap)[path]
    return buckets(width, keep_prob, plan_like.num_subnets * batch, cap, macs)


def costs(n: int, in_dim: int, width: int, out_dim: int, plan_like, cap: int) -> dict:
    """Multiply-adds per round of each path (what ``choose_path`` compares)."""
    k, tau = plan_like.num_subnets, plan_like.local_steps

    def w_space(c):  # forward X W^T, output, backward output, G^T X per step; full loss once
        return k * tau * (2 * n * in_dim * c + 2 * n * c * out_dim) + n * in_dim * width

    def z_space(c):  # per step output + backward + K G; W update G^T X once, Z update K G once
        steps = k * tau * (n * n * c + 2 * n * c * out_dim)
        return steps + n * in_dim * width + n * n * width

    return {"plain": w_space(width), "compact": w_space(cap),
            "gram": z_space(width), "gram_compact": z_space(cap)}  # fmt: skip


def choose_path(n, in_dim, width, out_dim, plan_like, max_keep_prob, *, batched=False):
    """The cheapest exact path for these shapes, and its compact capacity.

    ``batched`` (a ``train_masked`` call under the user's ``jax.vmap``): the compact paths'
    overflow ``cond`` would compute both branches there, so they are not chosen; nor are they
    when ``max_keep_prob`` is traced (``None``), as their capacity is a static shape.
    """
    if plan_like.local_steps == 0:
        return "plain", width
    no_compact = batched or max_keep_prob is None
    cap = width if no_compact else capacity(width, max_keep_prob)
    cost = costs(n, in_dim, width, out_dim, plan_like, cap)
    if no_compact or cap > COMPACT_MIN_SAVING * width:
        cost = {p: c for p, c in cost.items() if "compact" not in p}
    best = min(cost, key=cost.get)
    return best, (cap if "compact" in best else width)


def masks_of_round(key, round_index, plan: Plan, width, keep_prob, num_valid, dtype):
    """(K_max, width) masks of round ``round_index``: ``masks.sample(fold_in(key, round), ...)``.

    Surrogates l >= num_valid (a sweep's padding) hold nothing.
    """
    return masks.sample(
        jax.random.fold_in(key, round_index), plan.mask, num_valid, width, keep_prob,
        dtype=dtype, rows=plan.num_subnets,
    )  # fmt: skip


def _shard(array, plan: Plan):
    """Place the leading (surrogate) axis on the mesh's surrogates axis; the aggregation becomes
    a reduction. Under the batch's vmap (``_over_batch``) the runs axis is added in front."""
    return _place(array, plan, layout.surrogates_axis(plan.mesh))


def _place(array, plan: Plan, axis):
    if axis is None:
        return array
    spec = jax.sharding.PartitionSpec(axis, *([None] * (array.ndim - 1)))
    return jax.lax.with_sharding_constraint(array, jax.sharding.NamedSharding(plan.mesh, spec))


def _over_batch(fn, plan: Plan, in_axes=0):
    """``jax.vmap(fn)`` over the batch of runs, split over the mesh's runs axis when it has one
    (``spmd_axis_name``: every sharding inside gains that axis in front, so each device keeps
    its own runs and no run crosses devices)."""
    return jax.vmap(fn, in_axes=in_axes, spmd_axis_name=layout.runs_axis(plan.mesh))


def _with_zero_slot(array, axis):
    """Append one zero slice along ``axis``: the target of padding indices in compact gathers."""
    pad = [(0, 0)] * array.ndim
    pad[axis] = (0, 1)
    return jnp.pad(array, pad)


def _valid_mean(values, num_valid, plan):
    """Mean of per-surrogate local losses (K_max, tau) over the valid surrogates."""
    valid = (jnp.arange(plan.num_subnets) < num_valid).astype(values.dtype)
    return jnp.sum(values * valid[:, None], axis=0) / num_valid


class Run(NamedTuple):
    """One run's traced inputs (a leading batch axis in ``rounds.run``)."""

    key: jax.Array
    params: dict
    node_scale: jax.Array  # (width,) base node scale
    keep_prob: jax.Array  # xi of the 1/xi surrogate scale
    lr: jax.Array
    num_valid: jax.Array  # surrogates this run uses (<= plan.num_subnets)


def _plain_round(run: Run, w, round_masks, x, y, plan: Plan):
    """The reference: K full-width surrogates, optax SGD on W, ``masks.aggregate``."""
    loss_fn = losses.get(plan.loss)
    optimizer = optax.sgd(run.lr)

    def loss_of_w(w, scale):
        return loss_fn(model.apply({**run.params, "w": w}, x, node_scale=scale), y)

    def local_training(scale):
        descent = steps.descend(lambda v: loss_of_w(v, scale), w, optimizer, plan.local_steps)
        return descent.params, descent.losses

    scales = _shard(run.node_scale[None, :] * round_masks / run.keep_prob, plan)
    w_sub, values = jax.vmap(local_training)(scales)
    w_new = masks.aggregate(w, _shard(w_sub, plan), round_masks, unsampled=plan.unsampled)
    return w_new, loss_of_w(w_new, run.node_scale), _valid_mean(values, run.num_valid, plan)


def _fast_round(run: Run, w, z, round_masks, x, y, gram, plan: Plan, capacity: int | None):
    """A round on the compact and/or pre-activation (Gram) path; same numbers as the plain one.

    ``gram`` is X X^T and ``z`` the pre-activations X~ W^T of ``w`` (the Gram paths), or both
    None (weight space); ``capacity`` the compact slots per surrogate (None: uncompacted, every
    surrogate computes all neurons). Returns ``(w_new, z_new, loss, local_loss)``.
    """
    compact = capacity is not None
    loss_fn = losses.get(plan.loss)
    optimizer = optax.sgd(run.lr)
    width = w.shape[0]
    params = {**run.params, "w": w}
    xs = x * run.params["in_scale"]
    # Readout weights of every neuron in every surrogate: out_scale * s_j * mask_lj / xi * a_j.
    out_w = model.output_weights(params, run.node_scale / run.keep_prob)  # (width, C)
    if compact:
        # Slot i of surrogate l holds neuron idx[l, i]; padding points at a zero row/column.
        idx = jax.vmap(lambda m: jnp.nonzero(m, size=capacity, fill_value=width)[0])(
            round_masks
        )
        out_sub = _with_zero_slot(out_w, 0)[idx]  # (K, c, C); padding rows are 0: inert
    else:
        idx = None
        out_sub = round_masks[:, :, None] * out_w[None]  # (K, width, C)
    out_sub = _shard(out_sub, plan)

    def surrogate_loss(pre, out):  # pre-activations (n, c) -> loss
        return loss_fn(model.readout(pre, out), y)

    if gram is None:  # weight space: SGD on the surrogate's rows of W
        w_sub0 = (
            _with_zero_slot(w, 0)[idx]
            if compact
            else jnp.broadcast_to(w, (plan.num_subnets,) + w.shape)
        )

        def local(w_l, out):
            loss_of_w = lambda v: surrogate_loss(xs @ v.T, out)  # noqa: E731
            descent = steps.descend(loss_of_w, w_l, optimizer, plan.local_steps)
            return descent.params - w_l, descent.losses

        delta, values = jax.vmap(local)(_shard(w_sub0, plan), out_sub)  # (K, c, d)
        if compact:
            flat = delta.reshape(-1, delta.shape[-1])
            summed = (
                jnp.zeros((width + 1, w.shape[1]), w.dtype).at[idx.reshape(-1)].add(flat)[:width]
            )
        else:
            summed = jnp.sum(delta, axis=0)
    else:  # pre-activation space: Z <- Z - lr K G, accumulating sum_t G_t
        gram_s = gram * run.params["in_scale"] ** 2  # X~ X~^T
        # z (n, width): the round's pre-activations, shared by all surrogates
        z_sub0 = jnp.moveaxis(_with_zero_slot(z, 1)[:, idx], 1, 0) if compact else None

        def local(z_l, out):
            descent = steps.descend(
                lambda v: surrogate_loss(v, out), z_l, optimizer, plan.local_steps,
                transform=lambda g: gram_s @ g, sum_grads=True,
            )  # fmt: skip
            return descent.grad_sum, descent.losses

        if compact:
            g_sum, values = jax.vmap(local)(_shard(z_sub0, plan), out_sub)  # (K, n, c)
            flat = jnp.moveaxis(g_sum, 0, 1).reshape(z.shape[0], -1)
            g_total = jnp.zeros((z.shape[0], width + 1), z.dtype).at[:, idx.reshape(-1)].add(flat)
            g_total = g_total[:, :width]
        else:
            g_sum, values = jax.vmap(local, in_axes=(None, 0))(z, out_sub)
            g_total = jnp.sum(g_sum, axis=0)
        summed = -run.lr * (g_total.T @ xs)  # the round's weight update, formed once
    w_new = masks.average(w, summed, round_masks, unsampled=plan.unsampled)
    if gram is None:
        z_new, pre = None, xs @ w_new.T
    else:
        # The next round's pre-activations X~ W_new^T without an n d m product: row j of W moves
        # by summed_j / N_j, so column j of Z moves by (X~ summed^T)_j / N_j, and
        # X~ summed^T = -lr X~ X~^T G = -lr K G (n^2 m); unsampled columns follow their rows.
        moved = -run.lr * (gram_s @ g_total)
        z_new = masks.average(z.T, moved.T, round_masks, unsampled=plan.unsampled).T
        pre = z_new
    loss = surrogate_loss(pre, model.output_weights(params, run.node_scale))
    return w_new, z_new, loss, _valid_mean(values, run.num_valid, plan)


@functools.partial(jax.jit, static_argnames=("plan",))
def run(runs: Run, x, y, plan: Plan, first_round=0):
    """Train a batch of independent runs (leading axis B on every field of ``runs``).

    ``first_round`` (traced: one compilation for every chunk of a checkpointed run) is the
    absolute index of the first of the ``plan.num_rounds`` rounds, so round r's masks come from
    ``fold_in(key, r)`` however the run is cut into chunks.

    Returns ``(w, (loss (B, rounds), local_loss (B, rounds, tau), dead (B, rounds)))``: the
    full-network loss after every round (``initial_loss`` is the one before the first).
    """
    width = runs.params["w"].shape[1]
    dtype = x.dtype
    gram = None
    if plan.path.startswith("gram"):
        gram = x @ x.T  # one for the whole batch; each run scales it by its in_scale^2

    def draw(run_, r):
        return masks_of_round(run_.key, r, plan, width, run_.keep_prob, run_.num_valid, dtype)

    def one_round(carry, r):
        w, z = carry  # z: the pre-activations of w on the Gram paths (carried), else None
        masks_r = _over_batch(draw, plan, (0, None))(runs, r)  # (B, K_max, width)
        if plan.path == "plain":
            w_new, loss, local = _over_batch(_plain_round, plan, (0, 0, 0, None, None, None))(
                runs, w, masks_r, x, y, plan
            )
            z_new = None
        else:

            def fast(capacity):
                return _over_batch(_fast_round, plan, (0, 0, 0, 0) + (None,) * 5)(
                    runs, w, z, masks_r, x, y, gram, plan, capacity
                )

            if plan.path.endswith("compact"):
                # The smallest capacity that holds the round's fullest surrogate; past the
                # largest, the round runs uncompacted (exact always).
                sizes = plan.buckets + (plan.capacity,)
                fullest = jnp.max(jnp.sum(masks_r, axis=-1))
                index = jnp.sum(fullest > jnp.asarray(sizes, fullest.dtype))
                branches = [functools.partial(fast, c) for c in sizes + (None,)]
                w_new, z_new, loss, local = jax.lax.switch(index, branches)
            else:
                w_new, z_new, loss, local = fast(None)
        dead = jnp.mean(jnp.all(w_new == 0, axis=-1).astype(dtype), axis=-1)
        return (w_new, z_new), (loss, local, dead)

    # Each device its own runs (the runs axis, if any); a sweep pads B to a multiple of it.
    runs = jax.tree_util.tree_map(lambda a: _place(a, plan, layout.runs_axis(plan.mesh)), runs)
    w0 = runs.params["w"]
    z0 = None
    if gram is not None:  # the first round's pre-activations; later rounds update them
        z0 = _over_batch(lambda run_: model.preactivations(run_.params, x), plan)(runs)
    round_index = jnp.arange(plan.num_rounds)
    round_index = round_index + jnp.asarray(first_round, round_index.dtype)
    (w, _), (loss, local, dead) = jax.lax.scan(one_round, (w0, z0), round_index)
    local = jnp.swapaxes(local, 0, 1).reshape(w0.shape[0], plan.num_rounds, plan.local_steps)
    return w, (jnp.swapaxes(loss, 0, 1), local, jnp.swapaxes(dead, 0, 1))


@functools.partial(jax.jit, static_argnames=("loss",))
def initial_loss(runs: Run, x, y, loss: str):
    """(B,) the full network's loss of every run before its first round."""
    loss_fn = losses.get(loss)
    return jax.vmap(lambda r: loss_fn(model.apply(r.params, x, node_scale=r.node_scale), y))(runs)


def _concrete(value):
    """``value`` as a float, or None when it is traced (inside jit/vmap)."""
    try:
        return float(value)
    except (jax.errors.ConcretizationTypeError, TypeError):
        return None


def resolve(path: str, n, in_dim, width, out_dim, plan_like, max_keep_prob, *, batched=False):
    """(path, capacity) for a requested path name ("auto" picks by cost)."""
    _validate.choice("path", path, PATHS)
    max_keep_prob = _concrete(max_keep_prob)
    if max_keep_prob is None and "compact" in path:
        raise ValueError(
            f"path={path!r} needs a concrete keep_prob (its capacity is a static shape), but "
            "keep_prob is traced by jit/vmap: pass it as a Python float, or use path='gram' or "
            "'plain' (or jaxntk.sweep_masked for a grid of keep_probs)"
        )
    if path == "auto":
        return choose_path(n, in_dim, width, out_dim, plan_like, max_keep_prob, batched=batched)
    if plan_like.local_steps == 0 and path != "plain":
        return path, width
    return path, (capacity(width, max_keep_prob) if "compact" in path else width)

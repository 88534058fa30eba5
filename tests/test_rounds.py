"""The fast paths of a masked round equal the plain one; path selection; sweeps equal runs."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxntk
from jaxntk import rounds, scaling

from helpers import regression_data

F32 = jnp.float32
FAST = ("compact", "gram", "gram_compact")


def problem(key, n=24, d=40, width=64, out_dim=3, parameterization="ntk"):
    # n < d, the regime the Gram path is for; float32 as on an accelerator.
    k_p, k_d = jax.random.split(key)
    x, y = regression_data(k_d, n, d, out_dim=out_dim, dtype=F32)
    params = jaxntk.init_params(
        k_p, d, width, out_dim, parameterization=parameterization, dtype=F32
    )
    return params, x, y


def assert_same(a, b, rtol=1e-5):
    """Equal to rtol relative to the largest entry (float32 rounding of two exact rewrites)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert a.shape == b.shape
    scale = max(np.abs(b).max(), 1e-30)
    assert np.abs(a - b).max() <= rtol * scale, (np.abs(a - b).max() / scale, rtol)


def run_plan(key, params, x, y, plan, keep_prob, lr=0.2):
    """``rounds.run`` of one run (batch of 1): its weights and losses after every round."""
    run = rounds.Run(
        key=key[None],
        params=jax.tree_util.tree_map(lambda a: a[None], params),
        node_scale=jnp.ones((1, params["w"].shape[0]), F32),
        keep_prob=jnp.full((1,), keep_prob, F32),
        lr=jnp.full((1,), lr, F32),
        num_valid=jnp.full((1,), plan.num_subnets, jnp.int32),
    )
    w, (loss, _, _) = rounds.run(run, x, y, plan)
    return w, loss


def run_paths(key, params, x, y, cfg, **kwargs):
    out = {}
    for path in ("plain",) + FAST:
        out[path] = jaxntk.train_masked(key, params, x, y, cfg, path=path, **kwargs)
    return out


@pytest.mark.parametrize(
    "mask, keep_prob, unsampled, loss",
    [
        ("bernoulli", 0.5, "keep", "half_sum"),
        ("bernoulli", 0.3, "zero", "half_mean"),
        ("categorical", None, "keep", "mean"),
        ("bernoulli", 0.7, "keep", "softmax_ce"),
    ],
)
def test_fast_paths_equal_plain(key, mask, keep_prob, unsampled, loss):
    params, x, y = problem(key)
    if loss == "softmax_ce":
        y = jax.nn.one_hot(jnp.argmax(y, axis=1), y.shape[1], dtype=F32)
    cfg = jaxntk.MaskedConfig(4, keep_prob, 3, 0.2, 6, mask=mask, unsampled=unsampled, loss=loss)
    out = run_paths(jax.random.key(3), params, x, y, cfg)
    (w_ref, h_ref) = out["plain"]
    assert h_ref.loss[-1] < h_ref.loss[0]  # the runs train: a non-trivial comparison
    for path in FAST:
        w, h = out[path]
        assert_same(w["w"], w_ref["w"])
        assert_same(h.loss, h_ref.loss)
        assert_same(h.local_loss, h_ref.local_loss)
        np.testing.assert_array_equal(h.dead_fraction, h_ref.dead_fraction)


def test_fast_paths_with_node_scale_and_input_scale(key):
    # The asymmetric-scaling official parameterization: 1/sqrt(d) input layer, sqrt(lam) scales.
    params, x, y = problem(key, parameterization="asym_code")
    lam = scaling.node_scales(None, 64, gamma=0.5, dtype=F32)
    cfg = jaxntk.MaskedConfig(3, 0.5, 4, 0.5, 5)
    out = run_paths(jax.random.key(2), params, x, y, cfg, node_scale=jnp.sqrt(lam))
    w_ref, h_ref = out["plain"]
    for path in FAST:
        assert_same(out[path][0]["w"], w_ref["w"])
        assert_same(out[path][1].loss, h_ref.loss)


def test_compact_overflow_falls_back_exactly(key):
    # A capacity far below the kept count forces every round onto the uncompacted branch; one
    # equal to the width makes every slot real. Both must give the plain numbers.
    params, x, y = problem(key)
    cfg = jaxntk.MaskedConfig(4, 0.5, 2, 0.2, 3)
    w_ref, h_ref = jaxntk.train_masked(key, params, x, y, cfg, path="plain")
    for path in ("compact", "gram_compact"):
        for cap in (4, 64):
            plan = jaxntk.train._plan(cfg, path, cap, None)
            w, loss = run_plan(key, params, x, y, plan, 0.5)
            assert_same(w[0], w_ref["w"])
            assert_same(loss[0], h_ref.loss[1:])  # rounds.run: the losses after each round


def test_every_capacity_bucket_gives_the_plain_numbers(key):
    # Capacities at the rounds' own fullest-surrogate counts (read off the masks, which differ
    # between JAX versions) put the rounds on every branch of the switch, the uncompacted one
    # included; every round stays exact.
    params, x, y = problem(key)
    cfg = jaxntk.MaskedConfig(4, 0.55, 2, 0.2, 10)
    w_ref, h_ref = jaxntk.train_masked(key, params, x, y, cfg, path="plain")
    fullest = np.asarray(jnp.max(jnp.sum(jaxntk.round_masks(key, params, cfg), axis=-1), axis=-1))
    counts = sorted({int(c) for c in fullest})
    assert len(counts) >= 3, counts
    sizes = tuple(counts[:-1])[-4:]  # buckets..., capacity; the fullest rounds overflow them all
    branch = np.searchsorted(sizes, fullest)  # first size >= fullest
    assert set(branch.tolist()) == set(range(len(sizes) + 1)), branch  # every branch runs
    for path in ("compact", "gram_compact"):
        plan = jaxntk.train._plan(cfg, path, sizes[-1], None, sizes[:-1])
        w, loss = run_plan(key, params, x, y, plan, 0.55)
        assert_same(w[0], w_ref["w"])
        assert_same(loss[0], h_ref.loss[1:])


def test_buckets_sit_below_the_capacity_at_their_tail_probabilities():
    # m = 500, xi = 0.5, K = 10: a round's fullest surrogate exceeds 280 w.p. ~0.1 and 288 w.p.
    # ~0.01 (normal approximation); checked against 4000 simulated rounds, 3-sigma binomial bands.
    sizes = rounds.buckets(500, 0.5, 10, rounds.capacity(500, 0.5))
    assert sizes == tuple(sorted(sizes)) and all(s % 8 == 0 and s < 312 for s in sizes)
    counts = jax.random.bernoulli(jax.random.key(1), 0.5, (4000, 10, 500)).sum(axis=-1)
    fullest = np.asarray(counts.max(axis=1))
    for size, tail in zip(sizes, rounds.BUCKET_TAILS):
        observed = np.mean(fullest > size)
        assert observed <= tail + 3 * math.sqrt(tail * (1 - tail) / 4000), (size, observed)
    assert rounds.buckets(64, 1.0, 4, 64) == ()  # xi = 1: every slot is real, nothing to trim
    assert rounds.buckets(500, 0.5, 10, 312, round_macs=rounds.BUCKET_MIN_MACS / 2) == ()  # small


def test_capacity_is_a_five_sigma_bound():
    width, xi = 500, 0.5
    cap = rounds.capacity(width, xi)
    assert cap % 8 == 0 and cap >= width * xi + 5 * math.sqrt(width * xi * (1 - xi))
    assert cap == 312
    assert rounds.capacity(64, 1.0) == 64  # never more than the width
    # Statistical check of the bound: in 20000 draws none exceeds it (P < 3e-7 each).
    draws = jax.random.bernoulli(jax.random.key(0), xi, (20000, width)).sum(axis=1)
    assert int(draws.max()) <= cap


@pytest.mark.parametrize(
    "shape, steps, xi, batched, expected",
    [
        ((1000, 2048, 500, 10), 10, 0.5, False, "gram_compact"),  # Fig. 2a: n < d
        ((1000, 2048, 500, 10), 10, 0.5, True, "gram"),  # under vmap: no overflow cond
        ((5000, 100, 500, 10), 10, 0.5, False, "compact"),  # n >> d: weight space
        ((5000, 100, 500, 10), 10, 0.95, False, "plain"),  # nothing to compact
        ((1000, 2048, 500, 10), 0, 0.5, False, "plain"),  # no local steps
    ],
)
def test_choose_path(shape, steps, xi, batched, expected):
    cfg = jaxntk.MaskedConfig(10, xi, steps, 0.1, 1)
    path, cap = rounds.choose_path(*shape, cfg, xi, batched=batched)
    assert path == expected
    assert cap == (rounds.capacity(shape[2], xi) if "compact" in path else shape[2])


def test_auto_equals_plain_and_under_vmap(key):
    params, x, y = problem(key)
    cfg = jaxntk.MaskedConfig(4, 0.5, 3, 0.2, 4)
    w_ref, h_ref = jaxntk.train_masked(key, params, x, y, cfg, path="plain")
    w, h = jaxntk.train_masked(key, params, x, y, cfg)
    assert_same(h.loss, h_ref.loss)
    keys = jnp.stack([key, jax.random.key(7)])
    _, hv = jax.jit(jax.vmap(lambda k: jaxntk.train_masked(k, params, x, y, cfg)))(keys)
    assert_same(hv.loss[0], h_ref.loss)


def test_traced_keep_prob_skips_compact_or_says_how(key):
    # Experiments vmap train_masked over keep_prob: "auto" then has no static capacity and must
    # pick a non-compact path; asking for a compact one says what to do instead.
    params, x, y = problem(key)
    xis = jnp.asarray([0.3, 0.6], F32)

    def run(xi, path="auto"):
        return jaxntk.train_masked(
            key, params, x, y, jaxntk.MaskedConfig(4, xi, 2, 0.2, 3), path=path
        )

    _, h = jax.vmap(run)(xis)
    for i, xi in enumerate((0.3, 0.6)):
        assert_same(h.loss[i], run(xi, "plain")[1].loss)
    with pytest.raises(ValueError, match="needs a concrete keep_prob.*path='gram'"):
        jax.vmap(lambda xi: run(xi, "gram_compact"))(xis)


def test_categorical_masks_do_not_depend_on_the_padding(key):
    # The first K rows of a K_max draw are the K-surrogate draw (what makes padding exact).
    params, _, _ = problem(key)
    small = jaxntk.round_masks(
        key, params, jaxntk.MaskedConfig(3, None, 1, 0.1, 2, mask="categorical")
    )
    plan = jaxntk.train._plan(
        jaxntk.MaskedConfig(6, None, 1, 0.1, 2, mask="categorical"), "plain", 64, None
    )
    big = rounds.masks_of_round(key, 1, plan, 64, jnp.asarray(1 / 3, F32), 3, F32)
    np.testing.assert_array_equal(big[:3], small[1])
    np.testing.assert_array_equal(big[3:], 0)

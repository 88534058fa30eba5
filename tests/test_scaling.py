"""Node scales lam (jaxntk.scaling) and the parameterizations meant for them."""

import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

import jaxntk
from jaxntk import ntk, scaling

from helpers import numpy_forward, unit_rows

RANDOM_KINDS = [k for k in scaling.KINDS if k not in scaling.DETERMINISTIC_KINDS]


def lam_of(key, width, gamma, kind, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # gamma = 0
        return scaling.node_scales(key, width, gamma=gamma, kind=kind, **kw)


@pytest.mark.parametrize("kind", [k for k in scaling.KINDS if k != "zipf_code"])
@pytest.mark.parametrize("gamma", [0.0, 0.2, 0.5])
def test_scales_sum_to_one_and_are_positive(key, kind, gamma):
    lam = lam_of(key, 2000, gamma, kind)
    assert lam.shape == (2000,)
    assert abs(float(jnp.sum(lam)) - 1.0) < 1e-6
    assert bool(jnp.all(jnp.isfinite(lam)))
    assert bool(jnp.all(lam >= 0))
    if gamma > 0:
        assert float(jnp.min(lam)) >= gamma / 2000 * (1 - 1e-12)


def test_zipf_code_reproduces_the_official_off_by_one():
    width, alpha, gamma = 2000, 0.7, 0.5
    lam = lam_of(None, width, gamma, "zipf_code", alpha=alpha)
    ranks = np.arange(1, width + 1, dtype=np.float64)
    pmf = ranks ** (-1 / alpha) / np.sum(ranks ** (-1 / alpha))  # scipy's zipfian pmf, k = 1..m
    expected = gamma / width + (1 - gamma) * np.concatenate([[0.0], pmf[:-1]])  # pmf at k = 0..m-1
    np.testing.assert_allclose(np.asarray(lam), expected, rtol=1e-12)
    deficit = (1 - gamma) * width ** (-1 / alpha) / np.sum(ranks ** (-1 / alpha))
    assert abs(float(jnp.sum(lam)) - (1 - deficit)) < 1e-12
    assert float(lam_of(None, width, 0.0, "zipf_code", alpha=alpha)[0]) == 0.0  # the dead node


@pytest.mark.parametrize("kind", scaling.KINDS)
def test_gamma_one_is_exactly_uniform(key, kind):
    lam = scaling.node_scales(key, 300, gamma=1.0, kind=kind)
    assert bool(jnp.all(lam == 1.0 / 300))


def test_scaled_with_uniform_lam_is_the_ntk_parameterization(key):
    x = unit_rows(jax.random.key(1), 7, 5)
    lam = scaling.node_scales(None, 64, gamma=1.0, kind="zipf", alpha=0.5)
    scaled = jaxntk.init_params(key, 5, 64, 3, parameterization="scaled")
    plain = jaxntk.init_params(key, 5, 64, 3, parameterization="ntk")
    np.testing.assert_array_equal(scaled["w"], plain["w"])
    np.testing.assert_allclose(
        jaxntk.apply(scaled, x, node_scale=jnp.sqrt(lam)), jaxntk.apply(plain, x), rtol=1e-13
    )
    np.testing.assert_allclose(
        ntk.closed_form(scaled, x, node_scale=jnp.sqrt(lam)), ntk.closed_form(plain, x), rtol=1e-13
    )


@pytest.mark.parametrize(
    "label, largest, effective, above_uniform",
    [  # ../shared/papers/asymmetrical_scaling.md §1.3, computed there at p = 2000
        ("gamma0.5-alpha0.7", 0.176, 26.1, 98),
        ("gamma0.2-alpha0.5", 0.487, 3.9, 34),
        ("gamma0-alpha0.4", 0.745, 1.7, 18),
    ],
)
def test_paper_configurations(label, largest, effective, above_uniform):
    gamma, kind, alpha = scaling.PAPER_CONFIGS[label]
    lam = lam_of(None, 2000, gamma, kind, alpha=alpha)
    harmonic = math.fsum(k ** (-1 / alpha) for k in range(1, 2001))
    assert float(lam[0]) == pytest.approx(gamma / 2000 + (1 - gamma) / harmonic, rel=1e-12)
    assert float(lam[0]) == pytest.approx(scaling.zipf_largest(2000, gamma, alpha), rel=1e-12)
    assert float(lam[0]) == pytest.approx(largest, abs=6e-4)
    assert float(scaling.effective_nodes(lam)) == pytest.approx(effective, abs=0.06)
    assert int(jnp.sum(lam > 1 / 2000)) == above_uniform
    assert bool(jnp.all(jnp.diff(lam) <= 0))


def _reference_draws(kind, width, size, rng):
    """Unnormalised lam~ draws following the official sampling_utils formulas, NumPy/SciPy."""
    alpha, tau, beta = 0.5, 2.0, 1.0
    if kind == "horseshoe":
        return (np.pi / 2 * scipy.stats.cauchy.rvs(size=size, random_state=rng) / width) ** 2
    if kind == "invgamma":
        return scipy.stats.invgamma(a=2, scale=1 / width).rvs(size=size, random_state=rng)
    if kind == "beta":  # log Beta(1/(2m), 1/2) via log-gammas (direct draws underflow to 0)
        with np.errstate(divide="ignore"):
            log_a = np.log(rng.gamma(1 / (2 * width), size=size))
        log_b = np.log(rng.gamma(0.5, size=size))
        return np.exp(log_a - np.logaddexp(log_a, log_b))
    u = rng.uniform(size=size)
    if kind == "stable":
        return (1 - u) ** (-1 / alpha) / width ** (1 / alpha)  # Pareto(alpha), scale 1
    g = rng.gamma(1 - alpha, size=size)
    if kind == "gbfry":
        t = (alpha * width * tau / (tau - alpha)) ** (1 / alpha)
        w = (u + (1 - u) * (1 + t) ** alpha) ** (-1 / alpha)
        pareto = rng.uniform(size=size) ** (-1 / tau)
        return (tau - 1) / (tau - alpha) * w * pareto * g
    t = (alpha * width / beta ** (1 - alpha)) ** (1 / alpha)  # ggp
    w = (u * beta**alpha + (1 - u) * (t + beta) ** alpha) ** (-1 / alpha)
    return w * g


@pytest.mark.parametrize("kind", RANDOM_KINDS)
def test_random_laws_match_the_official_formulas(kind):
    """Two-sample KS test of the normalised-away log draws against an independent sampler.

    Scale-free comparison: log lam~ minus its median, pooled over 40 draws of width 100; the
    samples are fixed by the keys, and p > 1e-3 leaves a wide margin.
    """
    width, repeats = 100, 40
    keys = jax.random.split(jax.random.key(3), repeats)
    ours = jax.vmap(lambda k: lam_of(k, width, 0.0, kind))(keys)
    rng = np.random.default_rng(0)
    ref = np.stack([_reference_draws(kind, width, width, rng) for _ in range(repeats)])
    ref = ref / ref.sum(axis=1, keepdims=True)

    def centred(lam):
        with np.errstate(divide="ignore"):
            logs = np.log(np.asarray(lam, np.float64))
        return (logs - np.median(logs, axis=1, keepdims=True)).ravel()

    ours_c, ref_c = centred(ours), centred(ref)
    keep = np.isfinite(ours_c) & (ours_c > -600)  # Beta(1/(2m), .) draws may underflow
    result = scipy.stats.ks_2samp(ours_c[keep], ref_c[np.isfinite(ref_c) & (ref_c > -600)])
    assert result.pvalue > 1e-3, (kind, result)


def test_random_scales_vmap_and_differ_by_key():
    keys = jax.random.split(jax.random.key(0), 3)
    lam = jax.vmap(lambda k: scaling.node_scales(k, 50, gamma=0.5, kind="horseshoe"))(keys)
    assert lam.shape == (3, 50)
    assert not np.allclose(lam[0], lam[1])
    np.testing.assert_allclose(jnp.sum(lam, axis=1), 1.0, rtol=1e-12)


def test_asym_code_is_the_official_model(key):
    """f(x) = sum_j sqrt(lam_j) v_j relu(w_j . x / sqrt(d)), w ~ N(0, 2 I) (§1.2)."""
    d, m = 8, 4000
    params = jaxntk.init_params(key, d, m, 2, parameterization="asym_code")
    lam = scaling.node_scales(None, m, gamma=0.5, kind="zipf", alpha=0.7)
    x = unit_rows(jax.random.key(1), 5, d)
    expected = numpy_forward(
        params["w"], params["a"], 1.0, np.asarray(x) / np.sqrt(d), np.sqrt(lam)
    )
    np.testing.assert_allclose(
        jaxntk.apply(params, x, node_scale=jnp.sqrt(lam)), expected, rtol=1e-12
    )
    assert float(jnp.var(params["w"])) == pytest.approx(2.0, rel=0.03)  # 32 000 draws: sd 0.8 %
    # d f / d w carries x / sqrt(d): the NTK is the scaled-input one, 1/d times "scaled"'s.
    unscaled = {**params, "in_scale": jnp.asarray(1.0)}
    np.testing.assert_allclose(
        ntk.closed_form(params, x, node_scale=jnp.sqrt(lam)),
        ntk.closed_form(unscaled, x, node_scale=jnp.sqrt(lam)) / d,
        rtol=1e-12,
    )
    autodiff = ntk.empirical(params, x, node_scale=jnp.sqrt(lam), backend="autodiff")
    np.testing.assert_allclose(
        autodiff, ntk.closed_form(params, x, node_scale=jnp.sqrt(lam)), rtol=1e-10
    )


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"gamma": 1.5}, "gamma must be a number in"),
        ({"gamma": -0.1}, "gamma must be a number in"),
        ({"gamma": "0.5"}, "gamma must be a number in"),
        ({"gamma": 0.5, "kind": "pareto"}, "unknown kind"),
        ({"gamma": 0.5, "kind": "zipf", "alpha": 1.0}, "0 < alpha < 1"),
        ({"gamma": 0.5, "kind": "zipf", "alpha": 0.0}, "0 < alpha < 1"),
        ({"gamma": 0.5, "kind": "stable", "alpha": 2.0}, "0 < alpha < 1"),
        ({"gamma": 0.5, "kind": "iid", "alpha": 0.5}, "takes no alpha"),
        ({"gamma": 0.5, "kind": "gbfry", "tau": 1.0}, "tau > 1"),
        ({"gamma": 0.5, "kind": "ggp", "beta": 0.0}, "beta must be"),
        ({"gamma": 0.5, "kind": "beta", "eta": -1.0}, "eta must be"),
    ],
)
def test_bad_node_scale_arguments(key, kwargs, match):
    with pytest.raises(ValueError, match=match):
        scaling.node_scales(key, 10, **kwargs)


def test_bad_width_and_missing_key():
    with pytest.raises(ValueError, match="width"):
        scaling.node_scales(None, 0, gamma=0.5)
    with pytest.raises(ValueError, match="PRNG key"):
        scaling.node_scales(None, 10, gamma=0.5, kind="horseshoe")


def test_gamma_zero_warns_but_runs():
    with pytest.warns(UserWarning, match="needs gamma > 0"):
        lam = scaling.node_scales(None, 10, gamma=0.0, kind="zipf", alpha=0.4)
    assert abs(float(jnp.sum(lam)) - 1) < 1e-12


def test_sqrt_lam_on_ntk_params_is_refused(key):
    params = jaxntk.init_params(key, 3, 10)  # "ntk": out_scale 1/sqrt(10)
    lam = scaling.node_scales(None, 10, gamma=0.5, kind="zipf", alpha=0.5)
    x = unit_rows(key, 4, 3)
    cfg = jaxntk.GDConfig(lr=0.1, num_steps=0)
    with pytest.raises(ValueError, match="parameterization='scaled'"):
        jaxntk.train_gd(params, x, x[:, :1], cfg, node_scale=jnp.sqrt(lam))

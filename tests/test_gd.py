"""Full-batch GD with in-scan NTG diagnostics (jaxntk.train_gd) and the feature-learning checks."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxntk
from jaxntk import fullbatch, losses, ntk, scaling, steps
from jaxntk.data import sphere_sin

from helpers import regression_data

CONFIGS = {1.0: ("iid", None), 0.5: ("zipf", 0.7), 0.2: ("zipf", 0.5)}


def sqrt_lam(width, gamma, dtype=jnp.float64):
    kind, alpha = CONFIGS[gamma]
    return jnp.sqrt(
        scaling.node_scales(None, width, gamma=gamma, kind=kind, alpha=alpha, dtype=dtype)
    )


@pytest.fixture(scope="module")
def sphere():
    """The paper's simulated data: d = 50, n = 100 train + 100 test (float64)."""
    x, y = sphere_sin(jax.random.key(1), 200, 50)
    return x[:100], y[:100], x[100:], y[100:]


def numpy_gd(w0, a, lam, x, y, lr, steps, log_every, in_scale):
    """Independent NumPy GD on mean-MSE for the official model, with the same diagnostics."""
    w, a, lam, x, y = (np.array(v, np.float64) for v in (w0, a, lam, x, y))
    xs = x * in_scale
    coef = np.sqrt(lam)[:, None] * a  # (m, C)

    def ntg(w):
        d = (xs @ w.T > 0).astype(float)
        return (xs @ xs.T) * ((d * lam) @ d.T)

    theta0, logs = ntg(w), []
    for t in range(steps + 1):
        pre = xs @ w.T
        pred = np.maximum(pre, 0) @ coef
        if t % log_every == 0:
            theta = ntg(w)
            logs.append(
                (
                    np.mean((pred - y) ** 2),
                    np.linalg.eigvalsh(theta)[0],
                    np.linalg.norm(theta - theta0, 2),
                    np.linalg.norm(w - np.asarray(w0), axis=1),
                )
            )
        if t == steps:
            break
        resid = 2 * (pred - y) / y.size  # d mean((f - y)^2) / d f
        w = w - lr * ((resid @ coef.T) * (pre > 0)).T @ xs
    return w, logs


def test_train_gd_equals_numpy_gd_and_its_diagnostics(key, sphere):
    x, y, _, _ = sphere
    x, y = x[:30], y[:30]
    params = jaxntk.init_params(key, 50, 40, parameterization="asym_code")
    scale = sqrt_lam(40, 0.5)
    cfg = jaxntk.GDConfig(lr=1.0, num_steps=60, log_every=20, loss="mean", ntk_points=None)
    trained, hist = jaxntk.train_gd(params, x, y, cfg, node_scale=scale)
    w_ref, logs = numpy_gd(
        params["w"], params["a"], scale**2, x, y, 1.0, 60, 20, float(params["in_scale"])
    )
    np.testing.assert_allclose(trained["w"], w_ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(hist.step, [0, 20, 40, 60])
    risk, min_eig, change, movement = (np.array(v) for v in zip(*logs))
    np.testing.assert_allclose(hist.train_risk, risk, rtol=1e-10)
    np.testing.assert_allclose(hist.ntk_min_eig, min_eig, rtol=1e-8, atol=1e-14)
    np.testing.assert_allclose(hist.ntk_change, change, rtol=1e-8, atol=1e-14)
    np.testing.assert_allclose(hist.node_movement, movement, rtol=1e-8, atol=1e-14)
    assert hist.ntk_change[0] == 0 and np.all(hist.node_movement[0] == 0)
    assert hist.test_risk is None and hist.train_acc is None and hist.ntk is None


F64, F32 = jnp.float64, jnp.float32
TOLERANCE = {F64: 1e-12, F32: 1e-6}
# (n, d, C, dtype, node_scale): each of fullbatch._plan's three ways, odd and even d, one output
# and several, row blocks with a remainder (n = 300: 2 x 128 + 44 and 9 x 32 + 12) and a single
# block (n = 20), float64 and float32, with a node scale and without.
FUSED_CASES = [
    (300, 4, 1, F64, True), (300, 5, 3, F64, True), (20, 5, 1, F64, False),
    (300, 7, 1, F64, True), (300, 8, 2, F64, False), (20, 8, 1, F64, True),
    (40, 17, 1, F64, True), (40, 18, 3, F64, True), (300, 5, 1, F32, True), (300, 8, 2, F32, True),
]  # fmt: skip


def assert_close_to(actual, expected, rtol):
    """max |actual - expected| <= rtol * max |expected| (0 = 0 for a loss with no gradient)."""
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    error = np.max(np.abs(actual - expected))
    assert error <= rtol * np.max(np.abs(expected)), error / np.max(np.abs(expected))


@pytest.mark.parametrize("n, in_dim, out_dim, dtype, scaled", FUSED_CASES)
def test_fused_loss_and_gradient_equal_autodiff(n, in_dim, out_dim, dtype, scaled):
    """gd's written-out gradient is autodiff's through model.apply, for every loss (one compile)."""
    x, y = regression_data(jax.random.key(n + in_dim), n, in_dim, out_dim, dtype)
    params = jaxntk.init_params(jax.random.key(1), in_dim, 24, out_dim,
                                parameterization="asym_code", dtype=dtype)  # fmt: skip
    scale = sqrt_lam(24, 0.5, dtype) if scaled else None

    @jax.jit
    def both(params, x, y, scale):
        out = {}
        for loss in losses.LOSSES:
            for impl in fullbatch.IMPLEMENTATIONS:
                fn = fullbatch.loss_fn(params, x, y, loss, node_scale=scale, implementation=impl)
                out[loss, impl] = (fn(params["w"]), *jax.value_and_grad(fn)(params["w"]))
        return out

    out = both(params, x, y, scale)
    for loss in losses.LOSSES:
        (alone, value, grad), (_, value_ad, grad_ad) = out[loss, "fused"], out[loss, "autodiff"]
        assert grad.shape == params["w"].shape and grad.dtype == dtype
        for v in (alone, value):
            assert_close_to(v, value_ad, TOLERANCE[dtype])
        assert_close_to(grad, grad_ad, TOLERANCE[dtype])


@pytest.mark.parametrize("dtype, momentum, seeds", [(F64, 0.9, 3), (F32, 0.9, 3), (F32, 0.0, 1)])
def test_train_gd_takes_the_autodiff_steps(dtype, momentum, seeds):
    """train_gd (one seed, or vmapped seeds with their own node scales, which run one after another
    on CPU) takes optax SGD's steps on the autodiff gradient, with and without momentum."""
    n, in_dim, width = 300, 5, 24
    x, y = regression_data(jax.random.key(3), n, in_dim, dtype=dtype)
    keys = jax.random.split(jax.random.key(4), seeds)
    params = jax.vmap(lambda k: jaxntk.init_params(k, in_dim, width, parameterization="asym_code",
                                                   dtype=dtype))(keys)  # fmt: skip
    scales = jnp.stack([sqrt_lam(width, g, dtype) for g in list(CONFIGS)[:seeds]])
    cfg = jaxntk.GDConfig(1.0, 6, 3, loss="mean", ntk_points=10, momentum=momentum)

    def reference(p, s):
        loss = fullbatch.loss_fn(p, x, y, "mean", node_scale=s, implementation="autodiff")
        optimizer = optax.sgd(1.0, momentum=momentum or None)
        return steps.descend(loss, p["w"], optimizer, cfg.num_steps).params

    def fused(p, s):
        return jaxntk.train_gd(p, x, y, cfg, node_scale=s)[0]["w"]

    expected = jax.jit(jax.vmap(reference))(params, scales)
    if seeds == 1:
        trained = fused(*jax.tree_util.tree_map(lambda a: a[0], (params, scales)))[None]
    else:
        trained = jax.vmap(fused)(params, scales)
    # float64: the movement to 1e-12; float32: the weights to 1e-6 (the movement is 0.1 of
    # weights of size 2, whose float32 rounding after each step is 2e-7, 1e-6 of the movement).
    if dtype == F64:
        assert_close_to(trained - params["w"], expected - params["w"], TOLERANCE[dtype])
    else:
        assert_close_to(trained, expected, TOLERANCE[dtype])


def test_history_on_test_data_ntk_points_and_accuracy(key):
    x, y = sphere_sin(jax.random.key(2), 40, 6)
    labels = jax.nn.one_hot(jnp.argmax(x[:, :3], axis=1), 3)  # 3 classes, one-hot targets
    params = jaxntk.init_params(key, 6, 30, 3, parameterization="scaled")
    scale = sqrt_lam(30, 0.5)
    cfg = jaxntk.GDConfig(lr=0.5, num_steps=10, log_every=5, ntk_points=7, record_ntk=True)
    trained, hist = jaxntk.train_gd(
        params, x[:20], labels[:20], cfg, node_scale=scale, x_test=x[20:], y_test=labels[20:]
    )
    pred = jaxntk.apply(trained, x[20:], node_scale=scale)
    assert float(hist.test_risk[-1]) == pytest.approx(float(jnp.mean((pred - labels[20:]) ** 2)))
    expected_acc = jnp.mean(jnp.argmax(pred, 1) == jnp.argmax(labels[20:], 1))
    assert float(hist.test_acc[-1]) == pytest.approx(float(expected_acc))
    assert hist.ntk.shape == (3, 7, 7)
    np.testing.assert_allclose(
        hist.ntk[-1], ntk.closed_form(trained, x[:7], node_scale=scale), rtol=1e-12
    )
    assert float(hist.ntk_min_eig[-1]) == pytest.approx(float(ntk.min_eig(hist.ntk[-1])))


def test_vmap_over_seeds_and_gamma_configurations_equals_single_runs(sphere):
    x, y, _, _ = sphere
    keys = jax.random.split(jax.random.key(4), 3)
    params = jax.vmap(lambda k: jaxntk.init_params(k, 50, 64, parameterization="scaled"))(keys)
    scales = jnp.stack([sqrt_lam(64, g) for g in CONFIGS])  # one gamma per seed
    cfg = jaxntk.GDConfig(lr=1.0, num_steps=40, log_every=20, loss="mean")
    _, hist = jax.vmap(lambda p, s: jaxntk.train_gd(p, x, y, cfg, node_scale=s))(params, scales)
    assert hist.train_risk.shape == (3, 3) and hist.node_movement.shape == (3, 3, 64)
    for r in range(3):
        one = jax.tree_util.tree_map(lambda v, r=r: v[r], params)
        _, single = jaxntk.train_gd(one, x, y, cfg, node_scale=scales[r])
        np.testing.assert_allclose(hist.train_risk[r], single.train_risk, rtol=1e-12)
        np.testing.assert_allclose(hist.node_movement[r], single.node_movement, rtol=1e-10)


@pytest.mark.parametrize("gamma", [1.0, 0.5, 0.2])
def test_mean_mse_lr_one_decreases_the_risk_monotonically(gamma, sphere):
    x, y, _, _ = sphere
    params = jaxntk.init_params(jax.random.key(6), 50, 500, parameterization="asym_code")
    cfg = jaxntk.GDConfig.paper(2000, log_every=50, ntk_points=20)
    _, hist = jaxntk.train_gd(params, x, y, cfg, node_scale=sqrt_lam(500, gamma))
    assert bool(jnp.all(jnp.diff(hist.train_risk) < 0))
    assert float(hist.train_risk[-1]) < 0.5 * float(hist.train_risk[0])


@pytest.mark.parametrize("gamma", [1.0, 0.5, 0.2])
def test_mean_ntg_at_init_is_the_infinite_width_kernel_for_every_gamma(gamma):
    """E_w[Theta_0] = H_inf whatever gamma (sum lam = 1): Monte-Carlo bound 5 sd / sqrt(R)."""
    x = sphere_sin(jax.random.key(1), 12, 50)[0]
    seeds, width = 400, 200
    scale = sqrt_lam(width, gamma)

    def theta0(k):
        params = jaxntk.init_params(k, 50, width, parameterization="asym_code")
        return ntk.closed_form(params, x, node_scale=scale)

    thetas = jax.vmap(theta0)(jax.random.split(jax.random.key(7), seeds))
    mean, sd = jnp.mean(thetas, 0), jnp.std(thetas, 0)
    h_inf = ntk.infinite_width_relu(x, parameterization="asym_code")
    assert bool(jnp.all(jnp.abs(mean - h_inf) <= 5 * sd / np.sqrt(seeds) + 1e-12))
    # The bound is informative: it is small next to the kernel (diagonal 1/(2d) = 0.01).
    assert float(jnp.max(5 * sd / np.sqrt(seeds))) < 0.3 * float(jnp.min(jnp.diag(h_inf)))


@pytest.mark.parametrize("gamma", [1.0, 0.5, 0.2])
def test_min_eig_at_init_is_at_least_gamma_kappa(gamma, sphere):
    """Theta_0 = gamma U + (1 - gamma) P with U = the uniform-scale NTG and P PSD, so by Weyl
    lam_min(Theta_0) >= gamma (kappa_n - ||U - H_inf||_2) exactly; and at m = 2000 the slack is
    under 10 % of gamma kappa_n."""
    x = sphere[0]
    width = 2000
    params = jaxntk.init_params(jax.random.key(8), 50, width, parameterization="asym_code")
    kappa = float(ntk.min_eig(ntk.infinite_width_relu(x, parameterization="asym_code")))
    theta0 = ntk.closed_form(params, x, node_scale=sqrt_lam(width, gamma))
    uniform = ntk.closed_form(params, x, node_scale=sqrt_lam(width, 1.0))
    slack = float(
        ntk.spectral_distance(uniform, ntk.infinite_width_relu(x, parameterization="asym_code"))
    )
    min_eig = float(ntk.min_eig(theta0))
    assert kappa == pytest.approx(0.00365, rel=0.1)  # the spec's kappa_n for this data law
    assert min_eig >= gamma * (kappa - slack) - 1e-12
    assert min_eig >= 0.9 * gamma * kappa


@pytest.fixture(scope="module")
def movement_by_width(sphere):
    """Top-node movement and NTG change after 2000 steps at widths 250 and 1000 (4 seeds)."""
    x, y = (v.astype(jnp.float32) for v in sphere[:2])
    cfg = jaxntk.GDConfig.paper(2000, log_every=2000, ntk_points=None)
    out = {}
    for gamma in (1.0, 0.5):
        for width in (250, 1000):
            scale = sqrt_lam(width, gamma, jnp.float32)
            keys = jax.random.split(jax.random.key(5), 4)
            params = jax.vmap(
                lambda k, m=width: jaxntk.init_params(
                    k, 50, m, parameterization="asym_code", dtype=jnp.float32
                )
            )(keys)
            _, hist = jax.vmap(lambda p, s=scale: jaxntk.train_gd(p, x, y, cfg, node_scale=s))(
                params
            )
            top = jnp.mean(jnp.max(hist.node_movement[:, -1], axis=1))
            out[gamma, width] = (float(top), float(jnp.mean(hist.ntk_change[:, -1])))
    return out


def test_feature_learning_iff_gamma_below_one(movement_by_width):
    """Paper's Thm 7.4 claim: the top node moves O(1/sqrt(m)) when gamma = 1 (ratio 1/2 from m to
    4m) and O(1) when gamma < 1 (ratio within +-30 % of 1); the NTG change likewise."""
    ratio = {
        g: [movement_by_width[g, 1000][i] / movement_by_width[g, 250][i] for i in (0, 1)]
        for g in (1.0, 0.5)
    }
    assert 0.4 <= ratio[1.0][0] <= 0.625, ratio
    assert 0.7 <= ratio[0.5][0] <= 1.3, ratio
    assert ratio[1.0][1] < 0.6, ratio
    assert ratio[0.5][1] > 0.7, ratio
    # gamma < 1 moves its top node several times more than gamma = 1 at every width.
    assert movement_by_width[0.5, 1000][0] > 4 * movement_by_width[1.0, 1000][0]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"lr": 0.0, "num_steps": 10}, "lr"),
        ({"lr": 1.0, "num_steps": 10, "log_every": 3}, "multiple of log_every"),
        ({"lr": 1.0, "num_steps": 10, "loss": "l1"}, "loss"),
        ({"lr": 1.0, "num_steps": 10, "log_every": 5, "ntk_points": 0}, "ntk_points"),
        ({"lr": 1.0, "num_steps": 10, "log_every": 5, "momentum": 1.0}, "momentum"),
    ],
)
def test_bad_gd_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        jaxntk.GDConfig(**kwargs)


def test_bad_train_gd_inputs(key):
    x, y = sphere_sin(key, 10, 4)
    params = jaxntk.init_params(key, 4, 8, parameterization="scaled")
    cfg = jaxntk.GDConfig(lr=1.0, num_steps=5, log_every=5, ntk_points=20)
    with pytest.raises(ValueError, match="ntk_points=20 exceeds"):
        jaxntk.train_gd(params, x, y, cfg)
    cfg = jaxntk.GDConfig(lr=1.0, num_steps=5, log_every=5, ntk_points=5)
    with pytest.raises(ValueError, match="both x_test and y_test"):
        jaxntk.train_gd(params, x, y, cfg, x_test=x)
    with pytest.raises(ValueError, match="node_scale must have shape"):
        jaxntk.train_gd(params, x, y, cfg, node_scale=jnp.ones(3))
    with pytest.raises(ValueError, match="GDConfig"):
        jaxntk.train_gd(params, x, y, {"lr": 1.0})


def test_gd_on_softmax_cross_entropy_separates_two_classes(key):
    # GD on cross-entropy (its formula: test_losses.py) separates two well-separated classes,
    # the CIFAR-features setting.
    x = jnp.concatenate([jnp.ones((10, 4)), -jnp.ones((10, 4))]) + 0.1 * jax.random.normal(
        key, (20, 4)
    )
    x = x / jnp.linalg.norm(x, axis=1, keepdims=True)
    targets = jax.nn.one_hot(jnp.repeat(jnp.arange(2), 10), 2)
    params = jaxntk.init_params(key, 4, 64, 2, parameterization="scaled")
    lam = scaling.node_scales(None, 64, gamma=1.0, kind="iid")
    cfg = jaxntk.GDConfig(5.0, 200, 100, loss="softmax_ce", ntk_points=10)
    _, history = jaxntk.train_gd(params, x, targets, cfg, node_scale=jnp.sqrt(lam))
    assert history.train_acc[-1] == 1.0

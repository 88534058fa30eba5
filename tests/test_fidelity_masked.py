"""The masked-neurons scripts run the official experiments (fidelity issue).

Official code: github.com/JLiao980706/MaskedNTK-TMLR at eba1911 (``resnet50.sh``,
``run_heatmap.sh``, ``heatmap_exp.py``, ``run_width.sh``, ``width_experiments.py``,
``resnet_cifar_experiments.py``, ``mlp.py``).
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxntk
from jaxntk.data import idx
from jaxntk.experiments import _masked_data, masked_fig2a, masked_fig2b, masked_fig2c, masked_fig2d

from helpers import regression_data

pytestmark = pytest.mark.experiments


# ------------------------------------------------------------------------ preprocessing


def test_masked_preprocessing_scales_y_by_the_max_over_every_row(tmp_path):
    # resnet_cifar_experiments.load_data: X /= row norms; Y /= abs(Y).max(); X[:n], Y[:n]
    rng = np.random.default_rng(0)
    features = rng.normal(size=(12, 5))
    labels = rng.normal(size=(12, 3))
    labels[9, 1] = 40.0  # the largest |y| lies outside the first n rows
    path = tmp_path / "feat.npz"
    np.savez(path, features=features, labels=labels)
    ds = jaxntk.data.load("features", path=path, n=4, preprocess="masked", dtype=np.float64)
    np.testing.assert_allclose(ds.y_train, labels[:4] / 40.0, rtol=1e-12)
    np.testing.assert_allclose(
        ds.x_train, features[:4] / np.linalg.norm(features[:4], axis=1, keepdims=True), rtol=1e-12
    )


def test_fashion_mnist_stand_in_is_the_official_preprocessing_of_the_test_images(
    tmp_path, monkeypatch
):
    rng = np.random.default_rng(1)
    test_images = rng.integers(0, 256, (30, 28, 28), dtype=np.uint8)
    test_labels = rng.integers(0, 10, 30, dtype=np.uint8)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (5, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte.gz": rng.integers(0, 10, 5, dtype=np.uint8),
        "t10k-images-idx3-ubyte.gz": test_images,
        "t10k-labels-idx1-ubyte.gz": test_labels,
    }
    for name, array in arrays.items():
        idx.write_idx(tmp_path / name, array)
    monkeypatch.setattr(jaxntk.data.images, "fashion_mnist_dir", lambda: tmp_path)
    cfg = masked_fig2a.Config(n=7, data="fashion_mnist")
    x, y, what = _masked_data.load(cfg)
    pixels = test_images[:7].reshape(7, -1) / 255.0
    np.testing.assert_allclose(x, pixels / np.linalg.norm(pixels, axis=1, keepdims=True),
                               rtol=1e-6)  # fmt: skip
    np.testing.assert_array_equal(np.asarray(y).argmax(1), test_labels[:7])
    assert float(np.abs(y).max()) == 1.0 and "Fashion-MNIST" in what
    with pytest.raises(ValueError, match="--out_dim 10 or --data gaussian"):
        _masked_data.load(dataclasses.replace(cfg, out_dim=3))


# ------------------------------------------------------------------------ stopping rules


def heatmap_rule_official(error_hist, window_size=10):
    """heatmap_exp.py IST_Converge, lines 15-40, with the training replaced by a recorded list."""
    patience, best_avg, gstep = 0, float("inf"), 0
    while True:
        gstep += 1
        if gstep >= len(error_hist):
            return best_avg, None
        avg = np.mean(error_hist[np.maximum(0, gstep - window_size) : gstep + 1])
        if avg < best_avg:
            best_avg = avg
            patience = 0
        else:
            patience += 1
        if patience > 0 or best_avg < 5e-4:
            return best_avg, gstep


def width_rule_official(error_hist):
    """resnet_cifar_experiments.py IST_Converge, lines 78-101, on a recorded list."""
    patience, best_avg, gstep = 0, float("inf"), 0
    while True:
        gstep += 1
        if gstep >= len(error_hist):
            return best_avg, None
        avg = np.mean(error_hist[np.max([0, gstep - 10]) : gstep + 1])
        if avg < best_avg:
            best_avg = avg
        else:
            patience += 1
        if patience > 5:
            return best_avg, gstep


def _sequences():
    rng = np.random.default_rng(3)
    rounds = np.arange(60)
    return {
        "improving": 100.0 * 0.8**rounds,
        "plateauing": 50.0 * 0.7**rounds + 2.0,
        "noisy": 30.0 * 0.85**rounds + 1.0 + 0.3 * rng.random(60),
        "below threshold": 1e-2 * 0.5**rounds,
        "diverging": np.concatenate([10.0 * 0.9 ** rounds[:20], 10.0 * 1.3 ** rounds[:40]]),
    }


@pytest.mark.parametrize("rule", ["heatmap", "width"])
def test_official_stop_replays_the_official_loops(rule):
    official = heatmap_rule_official if rule == "heatmap" else width_rule_official
    seqs = _sequences()
    stacked = _masked_data.official_stop(np.stack(list(seqs.values())), rule)
    for i, (name, seq) in enumerate(seqs.items()):
        best, stop = official(list(seq))
        one = _masked_data.official_stop(seq, rule)
        for got in (one, jax.tree_util.tree_map(lambda a, i=i: a[i], stacked)):
            assert float(got.error) == pytest.approx(best, rel=1e-12), name
            if stop is None:  # not stopped within the record: the best so far, flagged
                assert not got.stopped and int(got.round) == len(seq) - 1, name
            else:
                assert got.stopped and int(got.round) == stop, name


def test_official_stop_rules_differ_where_the_official_scripts_do():
    noisy = _sequences()["noisy"]
    heat, width = (_masked_data.official_stop(noisy, r) for r in ("heatmap", "width"))
    assert int(heat.round) < int(width.round)  # one miss vs six cumulative misses
    assert float(width.error) <= float(heat.error)


# ------------------------------------------------------------ official configs, per script

# (script, field, official value, where the official code sets it)
OFFICIAL = [
    (masked_fig2a, "num_subnets", 10, "resnet50.sh: -p 10"),
    (masked_fig2a, "local_steps", 10, "resnet50.sh: -e 10"),
    (masked_fig2a, "num_rounds", 20, "resnet50.sh: -g 20"),
    (masked_fig2a, "n", 1000, "resnet50.sh: -n 1000"),
    (masked_fig2a, "width", 500, "resnet50.sh lines 2-3: -m 500"),
    (masked_fig2a, "keep_probs", (0.8, 0.5, 0.3), "resnet50.sh: -x 0.8 / 0.5 / 0.3"),
    (masked_fig2a, "num_seeds", 10, "resnet50.sh lines 2-3: -r 10"),
    (masked_fig2b, "n", 1000, "run_heatmap.sh: -n 1000"),
    (masked_fig2b, "width", 500, "run_heatmap.sh: -m 500"),
    (masked_fig2b, "lr", 0.1, "run_heatmap.sh: -l 0.1"),
    (masked_fig2b, "local_steps", 5, "heatmap_exp.py line 64: local_iter = 5"),
    (masked_fig2b, "subnets", tuple(range(1, 11)), "heatmap_exp.py line 62: workers 1..10"),
    (masked_fig2b, "keep_probs", tuple(np.arange(1, 11) / 10), "heatmap_exp.py line 63"),
    (masked_fig2b, "num_seeds", 10, "run_heatmap.sh: -r 10"),
    (masked_fig2c, "num_subnets", 10, "run_width.sh: -p 10"),
    (masked_fig2c, "local_steps", 3, "run_width.sh: -e 3"),
    (masked_fig2c, "n", 100, "run_width.sh: -n 100"),
    (masked_fig2c, "widths", (250, 500, 750, 1000, 1250, 1500), "width_experiments.py line 28"),
    (masked_fig2c, "num_seeds", 10, "run_width.sh: -r 10"),
    (masked_fig2d, "n", 100, "as Fig. 2c (the README records no flags for Fig. 2d)"),
]


@pytest.mark.parametrize("script, field, value, source", OFFICIAL,
                         ids=[f"{s.__name__.split('.')[-1]}.{f}" for s, f, _, _ in OFFICIAL])
def test_paper_preset_is_the_official_setting(script, field, value, source):
    cfg = script.PRESETS["paper"]
    got = getattr(cfg, field)
    if isinstance(value, tuple):
        np.testing.assert_allclose(got, value, err_msg=source)
    else:
        assert got == value, source


@pytest.mark.parametrize("script", [masked_fig2a, masked_fig2b, masked_fig2c, masked_fig2d])
def test_official_protocol_is_the_default_and_is_the_official_code(script):
    for preset in ("quick", "paper"):
        cfg = script.PRESETS[preset]
        assert cfg.protocol == "official" and cfg.data == "fashion_logits" and not cfg.features
    proto = _masked_data.protocol(script.PRESETS["paper"], 500)
    # mlp.py CentralMLP: W ~ N(0, 1/m), output relu(XW) a / sqrt(10); aggregate_updates zeroes
    # a column no subnetwork held; resnet_cifar_experiments.mse_loss: 0.5 sum (f - y)^2 / n.
    assert proto == ("official", "code", "half_mean", "zero", 1.0)


def test_official_learning_rates():
    # resnet50.sh: -l 0.16 / 0.1 / 0.06 for -x 0.8 / 0.5 / 0.3; run_width.sh: 0.16 / 0.1
    for script in (masked_fig2a, masked_fig2c):
        cfg = script.PRESETS["paper"]
        np.testing.assert_allclose(
            [cfg.lr_per_keep_prob * xi for xi in cfg.keep_probs], [0.16, 0.1, 0.06]
        )


def test_the_theory_protocol_is_not_offered_where_no_official_figure_exists():
    from jaxntk.experiments import masked_plateau_theory

    cfg = dataclasses.replace(masked_plateau_theory.PRESETS["smoke"], protocol="official")
    with pytest.raises(ValueError, match="--protocol theory"):
        masked_plateau_theory.run(cfg)


# ------------------------------------------------- official units == theory units, exactly


@pytest.mark.parametrize("unsampled", ["zero", "keep"])
def test_code_parameterization_is_the_theory_at_lr_m_over_nC(key, unsampled):
    """GD at lr on the "code" weights = GD at lr m/(nC) on the "ntk" weights fitting sqrt(C) y,
    with the loss nC times larger (relu is positively homogeneous): the lr_factor of the
    theory protocol."""
    n, d, c, m = 12, 6, 3, 40
    x, y = regression_data(key, n, d, c)
    official = jaxntk.init_params(key, d, m, c, parameterization="code")
    theory = jaxntk.init_params(key, d, m, c, parameterization="ntk")
    np.testing.assert_allclose(theory["w"], official["w"] * np.sqrt(m), rtol=1e-12)
    cfg = jaxntk.MaskedConfig(4, 0.5, 3, 0.3, 6, unsampled=unsampled, loss="half_mean")
    lr = cfg.lr * m / (n * c)
    theory_cfg = dataclasses.replace(cfg, lr=lr, loss="half_sum")
    _, h_code = jaxntk.train_masked(key, official, x, y, cfg)
    _, h_theory = jaxntk.train_masked(key, theory, x, jnp.sqrt(c) * y, theory_cfg)
    np.testing.assert_allclose(h_theory.loss, n * c * h_code.loss, rtol=1e-9)
    np.testing.assert_array_equal(h_theory.dead_fraction, h_code.dead_fraction)
    proto = _masked_data.protocol(
        dataclasses.replace(masked_fig2a.Config(), protocol="theory", n=n, out_dim=c),
        m,
    )
    assert proto.lr_factor == pytest.approx(m / (n * c))


def test_the_figures_grid_is_each_cells_own_train_masked_run():
    """``seeds_by_keep_prob`` (the sweep engine the figures run on) cell by cell."""
    cfg = dataclasses.replace(masked_fig2a.PRESETS["smoke"], keep_probs=(0.8, 0.3))
    x, y, _ = _masked_data.load(cfg)
    proto = _masked_data.protocol(cfg, cfg.width)

    def config_of(xi):
        return _masked_data.masked_config(cfg, proto, cfg.num_subnets, xi, 0.2 * xi)

    grid = _masked_data.seeds_by_keep_prob(cfg, x, y, cfg.width, proto, cfg.keep_probs, config_of)
    params0, keys = _masked_data.init_many(cfg, x, y, cfg.width, proto.parameterization)
    for i, xi in enumerate(cfg.keep_probs):
        for s in range(cfg.num_seeds):
            params = jax.tree_util.tree_map(lambda a, s=s: a[s], params0)
            _, own = jaxntk.train_masked(keys[s], params, x, y, config_of(xi))
            np.testing.assert_allclose(grid.loss[i, s], own.loss, rtol=1e-5)
            np.testing.assert_allclose(grid.local_loss[i, s], own.local_loss, rtol=1e-5)
            np.testing.assert_array_equal(grid.dead_fraction[i, s], own.dead_fraction)


def test_a_sweep_over_k_is_each_cells_own_train_masked_run():
    """``_masked_data.sweep`` with cells of different K and mask scale (Fig. 2d's IST cells and
    its official 1/xi cell) cell by cell, against ``train_masked``."""
    from jaxntk import presets

    cfg = dataclasses.replace(masked_fig2d.PRESETS["smoke"], num_seeds=1, num_rounds=4)
    x, y, _ = _masked_data.load(cfg)
    width = cfg.widths[0]
    proto = _masked_data.protocol(cfg, width)
    cells = [presets.ist(k, cfg.local_steps, 0.2 / k, cfg.num_rounds, loss=proto.loss,
                         unsampled=proto.unsampled) for k in (2, 4)]  # fmt: skip
    cells.append(_masked_data.masked_config(cfg, proto, 4, 0.5, 0.05, mask="categorical"))
    grid = _masked_data.sweep(cfg, x, y, width, proto, cells)
    params0, keys = _masked_data.init_many(cfg, x, y, width, proto.parameterization)
    params = jax.tree_util.tree_map(lambda a: a[0], params0)
    for i, cell in enumerate(cells):
        _, own = jaxntk.train_masked(keys[0], params, x, y, cell)
        np.testing.assert_allclose(grid.loss[i, 0], own.loss, rtol=1e-5)
    with pytest.raises(ValueError, match="differ in K, keep_prob and lr only"):
        _masked_data.sweep(cfg, x, y, width, proto, [cells[0], presets.full_gd(1, 0.1, 4)])

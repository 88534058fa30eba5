"""The asymmetric-scaling scripts run the official experiment by default (issue 14).

Each test checks one official setting against the official code itself
(github.com/juho-lee/asymmetrical_scaling, commit 3c049f0; file and line in the comments):
the split rows of the UCI tables, the official protocol's configs field by field, the official
Zipf law, MNIST for the paper preset (never touching the network), and the official values
read off the figures.
"""

import math

import numpy as np
import pytest
from scipy import stats

from jaxntk import data
from jaxntk.data import images, uci
from jaxntk.experiments import (
    _asym,
    _cli,
    asym_cifar_features,
    asym_mnist,
    asym_regression,
    asym_simulated,
    asym_teacher,
    asym_width_scaling,
)
from jaxntk.experiments import (
    _official_curves as official,
)

CLOSED_PORT_URL = "http://127.0.0.1:9/"  # the discard port: connection refused, no network used


# ------------------------------------------------------------------------- the official rows


def official_regression_split(x, y):
    """regression/data.py, written out again in NumPy: permute_dataset(x, y, seed=10)
    (line 284: np.random.RandomState(seed).permutation), split_dataset(train=0.4, valid=0.4,
    test=0.2) (lines 242-252: int() truncation, the test part the remainder), x and y
    standardised with the training mean and std (lines 258-280, np.std: ddof 0), and the valid
    part halved for transfer (regression/run.py 314: split_dataset(valid, 0.5, 0.0, 0.5))."""
    idx = np.random.RandomState(10).permutation(x.shape[0])
    x, y = x[idx], y[idx]
    n_train, n_valid = int(0.4 * len(x)), int(0.4 * len(x))
    parts = {
        "train": slice(0, n_train),
        "valid": slice(n_train, n_train + n_valid),
        "test": slice(n_train + n_valid, None),
    }
    mx, sx = x[parts["train"]].mean(0), x[parts["train"]].std(0)
    my, sy = y[parts["train"]].mean(0), y[parts["train"]].std(0)
    out = {k: ((x[s] - mx) / sx, (y[s] - my) / sy) for k, s in parts.items()}
    half = int(0.5 * n_valid)
    vx, vy = out.pop("valid")
    out["transfer_train"] = (vx[:half], vy[:half])
    out["transfer_test"] = (vx[half:], vy[half:])
    return out


@pytest.mark.parametrize("name", ["concrete", "airfoil", "plant"])
def test_load_without_a_key_is_the_official_split(name):
    x, y = uci.table(name)
    expected = official_regression_split(x, y)
    ds = data.load(name, dtype=np.float64)
    assert ds.meta["official_rows"]
    for split, (ex, ey) in expected.items():
        np.testing.assert_allclose(getattr(ds, f"x_{split}"), ex, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(getattr(ds, f"y_{split}"), ey, rtol=1e-12, atol=1e-12)


def test_a_key_still_gives_another_permutation():
    import jax

    official = data.load("concrete").meta["permutation"]
    keyed = data.load("concrete", key=jax.random.key(10)).meta["permutation"]
    assert not np.array_equal(official, keyed) and sorted(keyed) == list(range(1030))


def test_load_split_uses_the_official_rows_under_the_official_protocol():
    cfg = asym_regression.PRESETS["smoke"]
    official = _asym.load_split("concrete", cfg)
    expected = official_regression_split(*uci.table("concrete"))
    cap = cfg.max_points
    np.testing.assert_allclose(official["x_train"], expected["train"][0][:cap], rtol=1e-5)
    import dataclasses

    theory = _asym.load_split("concrete", dataclasses.replace(cfg, protocol="theory"))
    assert not np.allclose(theory["x_train"], official["x_train"])


# ------------------------------------------------------------------ the official configurations

# (script, {field: official value}) with where each value is set in the official code.
OFFICIAL = [
    (
        asym_simulated,
        {
            "n": 100,  # simulations/sample_data.py:26 n = 100
            "n_test": 100,  # sample_data.py:27 ntest = 100
            "in_dim": 50,  # sample_data.py:25 input_size = 50
            "width": 2000,  # simulations/run.py:136 --p 2000
            "lr": 1.0,  # run.py:133 --lr 1.0
            "num_steps": 50_000,  # run.py:132 --num_iter 50000
            "log_every": 1000,  # run.py:53 run_gd(thinning=1000) (--thinning is unused)
            "num_seeds": 5,  # simulations/script.sh:1 for i in {1..5}
            "protocol": "official",
        },
    ),
    (
        asym_regression,
        {
            "width": 2000,  # regression/run.py:251 --p 2000
            "lr": 1.0,  # run.py:248 --lr 1.0
            "loss": "mean",  # run.py:68 nn.MSELoss()
            "num_steps": 100_000,  # run.py:247 --num_iter 100000
            "log_every": 1000,  # run.py:54 thinning=1000
            "ntk_points": 50,  # run.py:254 --ntk_num_data 50
            "max_points": 0,  # run.py:281-282 the whole split
            "prune_step": 100,  # run.py:138 thinning = int(net.p * 0.05)
            "ks": tuple(range(10, 101, 10)),  # run.py:168-169,193 max_trans_p=100, unit 10
            "head_hidden": (64, 64),  # run.py:173 hidden_size=64, 199-203
            "head_lr": 0.1,  # run.py:205 SGD(lr=0.1)
            "head_steps": 5000,  # run.py:172 num_iters=5000
            "num_seeds": 5,  # regression/script.sh:1 for i in {1..5}
            "protocol": "official",
        },
    ),
    (
        asym_mnist,
        {
            "dataset": "mnist",  # mnist/run.py:347 FastMNIST (MNIST digits)
            "width": 2000,  # mnist/run.py:317 --p 2000
            "lr": 1.0,  # run.py:316 --lr 1.0
            "loss": "mean",  # run.py:70 nn.MSELoss()
            "num_steps": 200_000,  # run.py:313 --num_iter 200000
            "log_every": 1000,  # run.py:55 thinning=1000
            "ntk_points": 50,  # run.py:319 --ntk_num_data 50
            "max_points": 0,  # run.py:309-312 5000 per split (jaxntk.data's default sizes)
            "prune_step": 100,  # run.py:168 thinning = int(net.p * 0.05)
            "ks": tuple(range(10, 101, 10)),  # run.py:215-216,246
            "head_hidden": (128, 128),  # run.py:218 hidden_size=128
            "head_lr": 1.0,  # run.py:219 lr=1.0
            "head_steps": 10_000,  # run.py:217 num_iters=10000
            "num_seeds": 5,  # mnist/script.sh:1 for i in {1..5}
            "protocol": "official",
        },
    ),
    (
        asym_cifar_features,
        {
            "width": 2000,  # cifar10/run.py:294 --p 2000
            "lr": 5.0,  # run.py:288 --lr 5 (with SGD batches of 64: run.py:323; ours full batch)
            "loss": "softmax_ce",  # run.py:79 nn.CrossEntropyLoss()
            "num_seeds": 5,  # cifar10/script.sh (run1..run5)
            "protocol": "official",
        },
    ),
]


@pytest.mark.parametrize("module, official", OFFICIAL, ids=lambda v: getattr(v, "__name__", ""))
def test_paper_preset_is_the_official_run(module, official):
    cfg = module.PRESETS["paper"]
    assert module.Config().protocol == "official"  # the default, every preset included
    got = {field: getattr(cfg, field) for field in official}
    assert got == official
    # the four configurations of every official notebook (the `models` lists)
    assert cfg.gammas == ((1.0, 0.0), (0.5, 0.7), (0.2, 0.5), (0.0, 0.4))


@pytest.mark.parametrize("module", [asym_teacher, asym_width_scaling])
def test_scripts_without_an_official_figure_default_to_the_theory(module):
    assert module.Config().protocol == "theory"
    assert _asym.zipf_kind(module.Config()) == "zipf"


@pytest.mark.parametrize("gamma, alpha", [(0.5, 0.7), (0.2, 0.5), (0.0, 0.4)])
def test_the_official_protocol_uses_the_official_lambda_law(gamma, alpha):
    """sampling_utils.py:390/399: a/p + (1-a) * zipfian.pmf(np.arange(p), 1/alpha, p) (scipy)."""
    width = 2000
    cfg = asym_simulated.PRESETS["paper"]
    scale = _asym.node_scale(width, gamma, alpha, kind=_asym.zipf_kind(cfg), dtype=np.float64)
    official = gamma / width + (1 - gamma) * stats.zipfian.pmf(np.arange(width), 1 / alpha, width)
    np.testing.assert_allclose(np.asarray(scale) ** 2, official, rtol=1e-10, atol=1e-300)


def test_a_bad_protocol_says_how_to_fix_it():
    import dataclasses

    cfg = dataclasses.replace(asym_simulated.PRESETS["smoke"], protocol="paper")
    with pytest.raises(ValueError, match="pass --protocol official or --protocol theory"):
        asym_simulated.run(cfg)


# ------------------------------------------------------------------------------------- MNIST


def test_mnist_paper_preset_asks_for_mnist_and_says_where_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("JAXNTK_DATA", raising=False)
    monkeypatch.setattr(images, "MNIST_URL", CLOSED_PORT_URL)
    cfg = asym_mnist.PRESETS["paper"]
    assert asym_mnist.dataset_name(cfg) == "mnist"
    with pytest.raises(ValueError) as err:
        asym_mnist.run(cfg)
    message = str(err.value)
    assert CLOSED_PORT_URL in message
    assert str(tmp_path / "cache" / "jaxntk" / "mnist") in message


def test_mnist_paper_preset_on_the_cli_exits_with_that_message(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("JAXNTK_DATA", raising=False)
    monkeypatch.setattr(images, "MNIST_URL", CLOSED_PORT_URL)
    with pytest.raises(SystemExit, match="could not download MNIST"):
        asym_mnist.main(["--preset", "paper", "--outdir", str(tmp_path / "out")])


# ---------------------------------------------------------------------------- official values


def test_official_claims_compare_along_the_official_trajectory():
    """Our curve the official mean -> ratio 1, every point in the band; half of it -> ratio 0.5
    (the edge of [0.5, 2]) and no point in the band; a shorter run compares its last step."""
    x, mean_1, low_1, _ = official.curve("simulated/wdiff", 1.0)
    x_half, mean_half, _, _ = official.curve("simulated/wdiff", 0.5)
    steps = x[x <= 50_000]
    movement = np.zeros((2, 1, steps.size, 3))
    movement[0, 0, :, 0] = np.interp(steps, x, mean_1)  # gamma = 1: the official mean
    movement[1, 0, :, 2] = 0.5 * np.interp(steps, x_half, mean_half)  # gamma = 0.5: half of it
    results = {"step": np.broadcast_to(steps, (2, 1, steps.size)), "node_movement": movement}
    gammas = ((1.0, 0.0), (0.5, 0.7))
    (row,) = _asym.official_claims(results, gammas, "simulated")  # only wdiff's data given
    assert "top-node movement" in row.claim and "simulated/wdiff" in row.claim
    assert "γ=1: 100% in band, ratio 1.00" in row.measured
    assert "γ=0.5: 0% in band, ratio 0.50" in row.measured
    assert row.holds  # the worst ratio, 0.5, is on the tolerance's edge
    assert math.isclose(row.official, np.interp(50_000, x_half, mean_half), rel_tol=1e-9)
    assert math.isclose(row.value / row.official, 0.5, rel_tol=1e-9)
    assert math.isclose(_cli.Claim(**row.to_json()).ratio, 0.5, rel_tol=1e-9)
    # a third of our gamma = 1 curve fails the bound; a run ending at 2e4 compares there
    movement[0] /= 3
    short = {"step": results["step"][..., steps <= 20_000],
             "node_movement": movement[..., steps <= 20_000, :]}  # fmt: skip
    (row,) = _asym.official_claims(short, gammas, "simulated")
    assert not row.holds and "up to step 20000" in row.measured
    assert low_1[steps <= 20_000][-1] > row.value  # ours below the official band there
    # the findings give our one seed at that step beside the official band; a holding claim none
    spread = _asym.official_spread(short, gammas, "simulated")
    ours = movement[0, 0, steps <= 20_000, 0][-1]
    assert spread.startswith("simulated wdiff, γ=1, at step 20000: ours / official 0.33")
    assert f"1 seeds span {ours:.3g}–{ours:.3g}" in spread and "0 inside" in spread
    assert "γ=0.5" not in _asym.official_spread(results, gammas, "simulated")

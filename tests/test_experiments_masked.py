"""The masked-neurons figure scripts at smoke size: structure, outputs, effect direction.

Smoke sizes are far from the paper's, so only effects that are large already at width 64-256 and
a few dozen rounds are asserted (zeroing unsampled neurons at K = 1 kills the network; 10
surrogates lower the plateau of 1); the claims at quick size are in the report. Each script runs
once per test run, through ``main`` (the ``smoke`` fixture of conftest.py, shared by the xdist
workers; compilation dominates a smoke run); the checks of ``run``'s arrays read the
``results.npz`` it wrote, which holds exactly ``run(PRESETS["smoke"])``.
"""

import json

import numpy as np
import pytest

from jaxntk.experiments import (
    _cli,
    _masked_data,
    masked_fig2a,
    masked_fig2b,
    masked_fig2c,
    masked_fig2d,
    masked_plateau_theory,
)

# Scripts, notebooks and the report use only the public API that the rest of the suite checks
# in both environments; they run in the default environment only (see the Makefile).
pytestmark = pytest.mark.experiments

SCRIPTS = (masked_fig2a, masked_fig2b, masked_fig2c, masked_fig2d, masked_plateau_theory)


def check_claims(claims):
    assert claims, "every script contributes rows to the claims table"
    for claim in claims:
        assert claim.paper == "masked"
        assert np.isfinite(claim.value), claim
        assert isinstance(claim.holds, bool)
        json.dumps(claim.to_json())  # the report reads claims.json


def test_load_gives_unit_rows_and_bounded_targets():
    cfg = masked_fig2a.PRESETS["smoke"]
    x, y, description = _masked_data.load(cfg)
    assert x.shape == (cfg.n, cfg.in_dim) and y.shape == (cfg.n, cfg.out_dim)
    assert x.dtype == np.float32 and y.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(np.asarray(x), axis=1), 1.0, rtol=1e-5)
    assert np.abs(np.asarray(y)).max() == pytest.approx(1.0)
    assert "Gaussian unit-norm stand-in" in description


def test_converged_error_is_nan_for_a_diverged_run():
    loss = np.array([[3.0, 2.0, 1.0, 1.0], [3.0, 2.0, np.inf, np.nan]])
    np.testing.assert_array_equal(_masked_data.converged(loss, 2), [1.0, np.nan])


def test_fig2a_smoke(smoke):
    cfg = masked_fig2a.PRESETS["smoke"]
    results, _ = smoke(masked_fig2a)
    num_xi = len(cfg.keep_probs)
    assert results["loss"].shape == (num_xi, cfg.num_seeds, cfg.num_rounds + 1)
    assert results["local_loss"].shape == (num_xi, cfg.num_seeds, cfg.num_rounds, cfg.local_steps)
    assert (results["loss"][..., -1] < results["loss"][..., 0]).all()
    check_claims(masked_fig2a.claims(results, cfg))


def test_fig2b_smoke_zeroing_is_worse_at_small_k(smoke):
    cfg = masked_fig2b.PRESETS["smoke"]
    results, _ = smoke(masked_fig2b)
    shape = (2, len(cfg.subnets), len(cfg.keep_probs))
    assert results["error"].shape == shape
    assert results["loss"].shape == (*shape, cfg.num_seeds, cfg.num_rounds + 1)
    zero, keep = results["error"]  # official panel first, then the theory aggregation's
    assert zero[0, 0] > 2 * keep[0, 0]  # K = 1, xi = 0.3: the official rule kills neurons
    assert keep[1, 0] < keep[0, 0]  # K = 4 below K = 1 (theory's rule)
    assert results["dead_fraction_final"][0, 0, 0].mean() > 0.5
    assert (results["dead_fraction_final"][1] == 0).all()  # the theory's rule zeroes none
    # xi = 1: full GD, the same run under both aggregations
    np.testing.assert_array_equal(results["loss"][0][:, -1], results["loss"][1][:, -1])
    # the official panel is the official rule replayed on the zeroing histories
    stop = _masked_data.official_stop(results["loss"][0], "heatmap")
    np.testing.assert_allclose(zero, stop.error.mean(axis=-1))
    assert (results["stop_round"] == stop.round).all()
    assert keep[0, -1] < keep[0, 0]  # full GD below masked training
    check_claims(masked_fig2b.claims(results, cfg))


@pytest.mark.parametrize("script", [masked_fig2c, masked_fig2d], ids=["fig2c", "fig2d"])
def test_width_sweeps_smoke(script, smoke):
    cfg = script.PRESETS["smoke"]
    results, _ = smoke(script)
    rows = len(cfg.keep_probs) if script is masked_fig2c else len(cfg.subnets)
    if script is masked_fig2c:
        expected = (len(cfg.widths), rows, cfg.num_seeds)
    else:
        expected = (rows, len(cfg.widths), cfg.num_seeds)
    assert results["error"].shape == expected
    assert results["loss"].shape == (*expected, cfg.num_rounds + 1)
    assert np.isfinite(results["error"]).all()
    assert (results["error"] < results["loss"][..., 0]).all()  # training lowers the loss
    check_claims(script.claims(results, cfg))


def test_plateau_theory_smoke_more_subnets_lower_plateau(smoke):
    cfg = masked_plateau_theory.PRESETS["smoke"]
    results, _ = smoke(masked_plateau_theory)
    assert results["plateau_k"].shape == (len(cfg.subnets), cfg.num_seeds)
    assert results["plateau_tau"].shape == (len(cfg.local_steps), cfg.num_seeds)
    assert results["heuristic_k"].shape == (2, len(cfg.subnets))
    plateau = results["plateau_k"].mean(axis=1)
    assert plateau[-1] < plateau[0]  # K = 10 below K = 1
    heuristic = results["heuristic_k"][0]
    assert heuristic[-1] < heuristic[0]
    assert results["kernel_eigenvalues"][0] > 0  # lambda_0 > 0 for unit-norm, non-parallel x
    check_claims(masked_plateau_theory.claims(results, cfg))


def test_plateau_heuristic_ratio_matches_the_formula():
    cfg = masked_plateau_theory.PRESETS["quick"]
    kernel = np.diag([0.5, 1.0, 2.0])
    sq1, tr1 = masked_plateau_theory.heuristic(cfg, kernel, 1)
    sq10, tr10 = masked_plateau_theory.heuristic(cfg, kernel, 10)
    xi = cfg.keep_prob
    expected_ratio = 10 * xi / (1 - (1 - xi) ** 10)  # theta(1) / 1 over theta(10) / 10
    assert sq1 / sq10 == pytest.approx(expected_ratio)
    assert tr1 / tr10 == pytest.approx(expected_ratio)
    assert sq1 / tr1 == pytest.approx((0.25 + 1 + 4) / 0.5 / 3.5)  # tr(H^2)/lambda_0 vs tr(H)


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda s: s.__name__.split(".")[-1])
def test_main_writes_outputs(script, smoke):
    _, outdir = smoke(script)
    for name in _cli.OUTPUT_FILES:
        assert (outdir / name).is_file(), name
    claims = json.loads((outdir / "claims.json").read_text())
    assert claims and all(np.isfinite(c["value"]) for c in claims)
    config = json.loads((outdir / "config.json").read_text())
    assert config["seed"] == 0 and config["features"] == ""

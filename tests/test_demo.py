"""The main-job demo at smoke size: outputs written, shapes right, right effects."""

import json

import numpy as np
import pytest

from jaxntk.experiments import masked_demo

# Scripts, notebooks and the report use only the public API that the rest of the suite checks
# in both environments; they run in the default environment only (see the Makefile).
pytestmark = pytest.mark.experiments


def test_demo_main_writes_outputs_and_shows_the_effects(tmp_path, capsys):
    assert masked_demo.main(["--preset", "smoke", "--outdir", str(tmp_path)]) == 0
    for name in ("config.json", "results.npz", "figure.png", "figure.pdf"):
        assert (tmp_path / name).stat().st_size > 0
    cfg = masked_demo.PRESETS["smoke"]
    assert json.loads((tmp_path / "config.json").read_text())["width"] == cfg.width
    printed = capsys.readouterr().out
    assert printed.count("\n") > cfg.num_rounds  # one line per round

    results = dict(np.load(tmp_path / "results.npz"))
    names = list(masked_demo.methods(cfg))
    assert results["loss"].shape == (len(names), cfg.num_seeds, cfg.num_rounds + 1)
    final = dict(zip(names, results["loss"][:, :, -1].mean(axis=1)))
    xi = cfg.keep_prob
    # full GD < K = 10 surrogates < K = 1 surrogate < the official zeroing rule (dead network)
    assert final["full GD"] < final[f"Bernoulli K=10, ξ={xi}"] < final[f"Bernoulli K=1, ξ={xi}"]
    assert final[f"Bernoulli K=1, ξ={xi}"] < final["Bernoulli K=1, official zeroing"]
    dead = dict(zip(names, results["dead_fraction"][:, :, -1].mean(axis=1)))
    # 5 rounds of K = 1, xi = 0.5 under zeroing: 1 - 0.5^5 = 97% dead in expectation
    assert dead["Bernoulli K=1, official zeroing"] > 0.85
    assert dead["full GD"] == 0.0

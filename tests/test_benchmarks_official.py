"""Pure helpers of benchmarks.official: the useful-arithmetic count, the missing-clone message and
the pairing of ratios. No venv is built and no official code is needed (the benchmark itself runs
only by hand: ``make bench-official``)."""

import subprocess
import sys
from pathlib import Path

import pytest

import jaxntk
from benchmarks import official

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(("n", "d", "m", "out_dim", "k", "tau"), [(1000, 2048, 500, 10, 10, 10),
                                                                  (7, 3, 5, 2, 3, 4)])  # fmt: skip
def test_useful_count_is_gram_compact_cost_when_every_neuron_is_kept(n, d, m, out_dim, k, tau):
    cfg = jaxntk.MaskedConfig(k, 1.0, tau, 0.1, 1)
    cost = jaxntk.rounds.costs(n, d, m, out_dim, cfg, m)
    assert official.useful_round_macs(n, d, m, out_dim, k, tau, 1.0) == cost["gram_compact"]


def test_useful_count_at_fig2a_counts_kept_neurons_only():
    f = official.FIG2A
    useful = official.useful_round_macs(f["n"], f["d"], f["m"], f["out_dim"], f["k"], f["tau"], 0.5)
    assert useful == (
        10 * 10 * (1000**2 * 250 + 2 * 1000 * 250 * 10) + 1000 * 2048 * 500 + 1000**2 * 500
    )
    cfg = jaxntk.MaskedConfig(f["k"], f["xi"], f["tau"], f["lr"], 1)
    capacity = jaxntk.rounds.capacity(f["m"], f["xi"])
    assert useful < jaxntk.rounds.costs(1000, 2048, 500, 10, cfg, capacity)["gram_compact"]


def test_missing_repos_needs_the_imported_files(tmp_path):
    assert official.missing_repos(None, ["MaskedNTK-TMLR"]) == ["MaskedNTK-TMLR"]
    (tmp_path / "MaskedNTK-TMLR").mkdir()
    (tmp_path / "MaskedNTK-TMLR" / "mlp.py").write_text("")
    assert official.missing_repos(tmp_path, ["MaskedNTK-TMLR"]) == ["MaskedNTK-TMLR"]
    (tmp_path / "MaskedNTK-TMLR" / "resnet_cifar_experiments.py").write_text("")
    assert official.missing_repos(tmp_path, ["MaskedNTK-TMLR"]) == []


def test_pair_ratios_are_per_pair():
    r = official.pair_ratios([4.0, 3.0, 9.0], [2.0, 1.0, 3.0])
    assert r["per_pair"] == [2.0, 3.0, 3.0]
    assert (r["median"], r["min"], r["max"]) == (3.0, 2.0, 3.0)


@pytest.mark.parametrize("argv", [[], ["--repos", "no/such/dir"]])
def test_without_clones_it_says_how_to_get_them(argv):
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.official", *argv],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
    )  # fmt: skip
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    for repo in ("JLiao980706/MaskedNTK-TMLR", "juho-lee/asymmetrical_scaling"):
        assert f"git clone https://github.com/{repo}" in out.stderr

"""The main job (``jaxntk reproduce``): report.md and report.html with a row per claim.

Fake experiment modules registered in ``sys.modules`` make the failure handling testable without
the real scripts: a module that raises, one that is missing and one that asks to be skipped each
give their row while the others still run, and the exit code is non-zero. One real experiment
(``asym_simulated`` at smoke size) checks the pipeline end to end.
"""

import dataclasses
import html
import importlib
import importlib.metadata
import json
import re
import sys
import types
from pathlib import Path

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from PIL import Image  # noqa: E402  (matplotlib's own dependency; what _small_png uses)

from jaxntk.experiments import _cli, reproduce  # noqa: E402

# Scripts, notebooks and the report use only the public API that the rest of the suite checks
# in both environments; they run in the default environment only (see the Makefile).
pytestmark = pytest.mark.experiments

ROOT = Path(__file__).resolve().parents[1]


@dataclasses.dataclass(frozen=True)
class FakeConfig:
    size: int = 3
    seed: int = 0


def _fake_module(monkeypatch, name: str, *, fail: bool = False, skip: str | None = None,
                 parts=()):  # fmt: skip
    """Register ``experiments.<name>``: two claims (one holds, one fails) or a raising run;
    ``parts``: plot returns one figure per part name."""

    def run(cfg, stages=None):
        if fail:
            raise RuntimeError(f"{name} broke on purpose")
        return {"curve": np.arange(cfg.size, dtype=float), "seed": np.asarray(cfg.seed)}

    def plot(results, cfg):
        figures = {}
        for part in parts or ("",):
            figures[part], ax = plt.subplots()
            ax.plot(results["curve"])
        return figures if parts else figures[""]

    def claims(results, cfg):
        return [
            _cli.Claim("masked", f"{name} claim A | with a pipe", "value 2.0", 2.0, True, "> 1"),
            _cli.Claim("asymmetric", f"{name} claim B <b>", "value 0.5", 0.5, False, "> 1",
                       official=0.25),
        ]

    module = types.ModuleType(f"jaxntk.experiments.{name}")
    module.__doc__ = f"Fake experiment {name}.\n\nSecond paragraph, not in the report."
    presets = {p: FakeConfig() for p in ("quick", "paper", "smoke")}
    module.SCRIPT = _cli.Script(name, presets, run, plot, claims, name)
    module.findings = lambda results, cfg: f"{name} findings: curve sum {results['curve'].sum()}"
    if skip is not None:
        module.available = lambda cfg: skip
    monkeypatch.setitem(sys.modules, f"jaxntk.experiments.{name}", module)


def _claims_rows(markdown: str) -> list[list[str]]:
    """The data rows of the report's claims table, cells split on unescaped pipes."""
    section = markdown.split("\n## Claims", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("| ")][1:]  # no header
    return [
        [c.strip().replace(r"\|", "|") for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        for line in lines
    ]


def test_failures_are_rows_and_the_run_goes_on(monkeypatch, tmp_path, capsys):
    _fake_module(monkeypatch, "_fake_raises", fail=True)
    _fake_module(monkeypatch, "_fake_ok")
    _fake_module(monkeypatch, "_fake_skipped", skip="no data file given")
    _fake_module(monkeypatch, "_fake_ok2")
    only = "_fake_raises,_fake_ok,_no_such_experiment,_fake_skipped,_fake_ok2"
    code = reproduce.main(
        ["--preset", "smoke", "--out", str(tmp_path), "--seed", "7", "--only", only]
    )
    assert code != 0

    md = (tmp_path / "report.md").read_text(encoding="utf-8")
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    rows = _claims_rows(md)
    assert [r[0] for r in rows] == ["_fake_ok", "_fake_ok", "_fake_ok2", "_fake_ok2"]
    assert rows[0][1:] == [
        "masked", "_fake_ok claim A | with a pipe", "value 2.0", "> 1", "–", "–", "✓"
    ]  # fmt: skip
    assert rows[1][-3:] == ["0.25", "2.00", "✗"]  # the official figure's value, ours / official
    assert "## Claims (2/4 hold)" in md

    overview = md.split("## Experiments", 1)[1].split("## Claims", 1)[0]
    assert "failed: RuntimeError: _fake_raises broke on purpose" in overview
    assert (
        "failed: ModuleNotFoundError: No module named "
        "'jaxntk.experiments._no_such_experiment'" in overview
    )
    assert "skipped: no data file given" in overview
    assert overview.count("ok — 1/2 claims hold") == 2
    assert "Fake experiment _fake_ok." in md and "Second paragraph" not in md
    assert "![_fake_ok](_fake_ok/figure.png)" in md and "_fake_raises/figure.png" not in md
    assert "_fake_ok findings: curve sum 3.0" in md

    # the HTML is the Markdown converted: the same table, escaped, the figures by relative path
    assert page.count('<td class="holds">') == 4
    assert page.count('<span class="yes">✓</span>') == page.count('<span class="no">✗</span>') == 2
    assert html.escape("_fake_ok claim B <b>") in page and "claim B <b>" not in page
    assert re.search(r'<img [^>]*src="_fake_ok2/figure.png"', page)
    assert '<a href="#_fake_ok">' in page and '<h2 id="_fake_ok">' in page  # the overview links
    assert "RuntimeError: _fake_raises broke on purpose" in page

    for name in ("_fake_ok", "_fake_ok2"):
        assert sorted(p.name for p in (tmp_path / name).iterdir()) == sorted(
            (*_cli.OUTPUT_FILES, _cli.TIMING_FILE)
        )
        assert json.loads((tmp_path / name / "config.json").read_text())["seed"] == 7
        assert len(json.loads((tmp_path / name / "claims.json").read_text())) == 2
    assert not (tmp_path / "_fake_raises").exists() and not (tmp_path / "_fake_skipped").exists()
    assert "failed: _fake_raises, _no_such_experiment" in capsys.readouterr().err


def test_all_ok_exits_zero(monkeypatch, tmp_path):
    _fake_module(monkeypatch, "_fake_ok")
    _fake_module(monkeypatch, "_fake_skipped", skip="no data file given")
    assert reproduce.cli(["reproduce", "--preset", "smoke", "--out", str(tmp_path),
                          "--only", "_fake_ok,_fake_skipped"]) == 0  # fmt: skip
    md = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "- **preset**: smoke" in md and "- **seed**: each preset's own" in md
    assert "jax " in md and "optax " in md and "- **device**: " in md


def test_publish_writes_a_small_committable_copy(monkeypatch, tmp_path):
    _fake_module(monkeypatch, "_fake_ok")
    dest = tmp_path / "docs"
    assert reproduce.cli(["reproduce", "--preset", "smoke", "--out", str(tmp_path / "run"),
                          "--only", "_fake_ok", "--publish", str(dest)]) == 0  # fmt: skip
    assert sorted(p.name for p in dest.iterdir()) == [
        "_fake_ok.png", "claims.json", "report.md", "rows.json"
    ]  # fmt: skip
    md = (dest / "report.md").read_text(encoding="utf-8")
    assert "![_fake_ok](_fake_ok.png)" in md and "figure.png" not in md
    claims = json.loads((dest / "claims.json").read_text())
    assert [(c["experiment"], c["official"], c["ratio"]) for c in claims] == [
        ("_fake_ok", None, None), ("_fake_ok", 0.25, 2.0)
    ]  # fmt: skip
    big = tmp_path / "big.png"  # noise does not compress: the copy must shrink to the limit
    rng = np.random.default_rng(0)
    plt.imsave(big, rng.random((600, 800, 3)))  # 1.7 MB; as a 256-colour palette still 480 kB
    assert big.stat().st_size > reproduce.PUBLISHED_PNG_BYTES
    reproduce._small_png(big, tmp_path / "small.png")
    assert (tmp_path / "small.png").stat().st_size <= reproduce.PUBLISHED_PNG_BYTES
    with Image.open(tmp_path / "small.png") as small:
        assert small.width < 800  # it had to be shrunk, not only re-encoded


def test_published_runs_add_up_and_variants_are_rows_of_their_own(monkeypatch, tmp_path):
    _fake_module(monkeypatch, "_fake_ok")
    _fake_module(monkeypatch, "_fake_ok2", parts=("concrete", "airfoil"))
    dest = tmp_path / "docs"

    def publish(*argv):
        return reproduce.main(["--preset", "paper", "--out", str(tmp_path / "run"),
                               "--publish", str(dest), *argv])  # fmt: skip

    assert publish("--only", "_fake_ok") == 0
    assert publish("--only", "_fake_ok2", "--set", "size=5") == 0  # a variant of another one
    assert publish("--only", "_fake_ok", "--set", "size=4") == 0
    assert (tmp_path / "run" / "_fake_ok--size-4" / "results.npz").is_file()
    two = tmp_path / "run" / "_fake_ok2--size-5"  # a figure per part, each also as a PDF
    assert {p.name for p in two.glob("figure*")} == {
        "figure.png", "figure.pdf", "figure-airfoil.png", "figure-airfoil.pdf"
    }  # fmt: skip
    md = (dest / "report.md").read_text(encoding="utf-8")
    keys = ["_fake_ok", "_fake_ok--size-4", "_fake_ok2--size-5"]  # report order, all kept
    assert [r[0] for r in _claims_rows(md)] == [k for k in keys for _ in range(2)]
    assert "## Claims (3/6 hold)" in md and "- **rows of earlier runs**: _fake_ok," in md
    assert "Variant: `--set size=4`" in md and md.count("; run 20") == 3  # each names its run
    assert {p.name for p in dest.glob("*.png")} == {
        *(f"{k}.png" for k in keys), "_fake_ok2--size-5-airfoil.png"
    }  # fmt: skip
    assert "![_fake_ok2--size-5](_fake_ok2--size-5-airfoil.png)" in md
    rows = json.loads((dest / "rows.json").read_text())
    assert rows["preset"] == "paper" and [r["variant"] for r in rows["rows"]] == ["", "size=4",
                                                                                  "size=5"]
    # a report of another preset is not mixed in: refused before anything is written
    before = (dest / "report.md").read_bytes()
    with pytest.raises(ValueError, match="holds a 'paper' report, this run is 'smoke'"):
        reproduce.main(["--preset", "smoke", "--out", str(tmp_path / "s"), "--only", "_fake_ok",
                        "--publish", str(dest)])  # fmt: skip
    assert (dest / "report.md").read_bytes() == before


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--set", "nosuch=1"], "none of _fake_ok has a Config field 'nosuch'"),
        (["--set", "size=big"], "'big' does not fit size: write a INT, like size=4"),
        (["--set", "size"], "is not FIELD=VALUE"),
        (["--checkpoint-every", "-50"], "--checkpoint-every must be a number of steps >= 1"),
        (["--stall-timeout", "-5"], "--stall-timeout must be a number of seconds >= 0"),
    ],
)
def test_reproduce_refuses_bad_flags_before_running(monkeypatch, tmp_path, capsys, argv, message):
    _fake_module(monkeypatch, "_fake_ok")
    try:
        code = reproduce.main(["--preset", "smoke", "--out", str(tmp_path / "r"),
                               "--only", "_fake_ok", *argv])  # fmt: skip
    except SystemExit as exit_:  # argparse's own errors (a malformed --set) exit too
        code = exit_.code
    assert code == 2
    assert message in capsys.readouterr().err and not (tmp_path / "r").exists()


def test_real_experiment_at_smoke_size(tmp_path):
    code = reproduce.cli(
        ["reproduce", "--preset", "smoke", "--out", str(tmp_path), "--only", "asym_simulated"]
    )
    assert code == 0
    claims = json.loads((tmp_path / "asym_simulated" / "claims.json").read_text())
    assert claims, "asym_simulated contributes claims to the report"
    md = (tmp_path / "report.md").read_text(encoding="utf-8")
    rows = _claims_rows(md)
    assert len(rows) == len(claims)
    assert [r[2] for r in rows] == [" ".join(c["claim"].split()) for c in claims]
    assert all(r[-1] in ("✓", "✗") for r in rows)
    assert (tmp_path / "asym_simulated" / "figure.png").is_file()
    assert "(asym_simulated/figure.png)" in md
    assert (tmp_path / "report.html").read_text(encoding="utf-8").count('class="holds"') == len(
        claims
    )


def test_cli_help_lists_reproduce_and_the_console_script(capsys):
    with pytest.raises(SystemExit) as exit_info:
        reproduce.cli(["--help"])
    assert exit_info.value.code == 0
    assert "reproduce" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        reproduce.cli(["reproduce", "--preset", "nope"])
    # The installed console command is this function (the package metadata, not a string).
    (entry,) = importlib.metadata.entry_points(group="console_scripts", name="jaxntk")
    assert entry.load() is reproduce.cli


def test_every_listed_experiment_is_a_script():
    assert len(set(reproduce.EXPERIMENTS)) == len(reproduce.EXPERIMENTS)
    for name in reproduce.EXPERIMENTS:
        module = importlib.import_module(f"jaxntk.experiments.{name}")
        assert module.SCRIPT.name == name, name


def test_importing_the_experiments_keeps_the_matplotlib_backend():
    """Scripts choose Agg at their command-line entry only: a notebook that imports them keeps
    its backend. A fresh interpreter (MPLBACKEND unset) sets a backend no script would choose,
    imports every experiment module and reads the backend back."""
    import os
    import subprocess

    names = sorted(p.stem for p in (ROOT / "experiments").glob("*.py") if p.stem != "__init__")
    code = (
        "import importlib, matplotlib\n"
        "matplotlib.use('svg')\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module('jaxntk.experiments.' + name)\n"
        "import matplotlib.pyplot\n"
        "print(matplotlib.get_backend())\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().lower() == "svg"
    assert len(names) >= 19  # every module, the shared ones included


def test_claim_rows_are_graded_by_the_bound_their_criterion_states():
    from jaxntk.experiments import _claims

    rows = [
        ("a", "m", 10.0, "> 10"),  # a strict bound: 10 does not exceed 10
        ("b", "m", 2.5, "ratio > 2 (the paper's figures: 3.3)"),
        ("c", "m", -0.31, "slope < −0.3"),  # the typographic minus
        ("d", "m", 0.5, ">= 0.5"),
        ("e", "m", 1.0, "= 1"),
        ("f", "m", float("nan"), "< 0.2"),  # a diverged run never holds
        ("g", "m", 3.0, "ratio > 1.5 and every step down", False),  # no bound: holds given
    ]
    claims = _claims.table("masked", rows)
    assert [c.holds for c in claims] == [False, True, True, True, True, False, False]
    assert [c.criterion for c in claims] == [r[3] for r in rows]
    assert all(c.paper == "masked" and c.claim == r[0] for c, r in zip(claims, rows))
    with pytest.raises(ValueError, match="states no bound"):
        _claims.table("masked", [("h", "m", 1.0, "within a factor 2")])

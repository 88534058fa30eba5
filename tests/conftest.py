"""Suite-wide settings: float64 available, rank promotion is an error (as in neural-tangents),
threefry lowered unrolled on CPU (``jaxntk._threefry_cpu``: the same bits, a third less of the
suite's time, which is mostly compiling; ``tests/test_threefry_cpu.py`` checks the bits).

``JAXNTK_REQUIRE_NT=1`` (set by ``make test`` in both environments) turns the skip of tests that
need neural-tangents into a failure, so a missing neural-tangents cannot pass silently.
"""

import os

import jax
import pytest

from jaxntk import _threefry_cpu

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_rank_promotion", "raise")
_threefry_cpu.unroll_on_cpu()

REQUIRE_NT = os.environ.get("JAXNTK_REQUIRE_NT", "0") == "1"


@pytest.fixture
def key():
    return jax.random.key(0)


@pytest.fixture(scope="session")
def nt():
    """neural_tangents via jaxntk.ntk.import_neural_tangents; skip where missing, or fail."""
    from jaxntk import ntk

    try:
        return ntk.import_neural_tangents()
    except ImportError as err:
        if REQUIRE_NT:
            pytest.fail(f"{err} (JAXNTK_REQUIRE_NT=1: make venv / make venv-nt install it)")
        pytest.skip(str(err))


def _shared_dir(tmp_path_factory):
    """A folder every pytest-xdist worker of this run sees (its own basetemp without xdist).

    Workers' basetemps are siblings under one folder per run; ``PYTEST_XDIST_TESTRUNUID`` (the
    same in every worker of a run, new each run) keys the folder, so no run reads another's.
    """
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    base = tmp_path_factory.getbasetemp()
    folder = base if run is None else base.parent / f"shared-{run}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def smoke(tmp_path_factory):
    """``smoke(module) -> (results, outdir)``: ``module.main(["--preset", "smoke"])``, run once
    per test run, across xdist workers too (a file lock per script: the first worker to ask runs
    it, the others wait and read its outputs). ``results`` is the ``results.npz`` it wrote, which
    holds exactly ``module.run(module.PRESETS["smoke"])``; treat both as read-only."""
    import fcntl

    import numpy as np

    folder = _shared_dir(tmp_path_factory)
    done = {}

    def get(module):
        name = module.__name__.rsplit(".", 1)[-1]
        if name not in done:
            outdir = folder / f"smoke-{name}"
            with open(folder / f"smoke-{name}.lock", "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
                if not (outdir / "claims.json").is_file():  # claims.json: written last
                    assert module.main(["--preset", "smoke", "--outdir", str(outdir),
                                        "--overwrite"]) == 0  # fmt: skip
            with np.load(outdir / "results.npz") as f:
                done[name] = ({k: f[k] for k in f.files}, outdir)
        return done[name]

    return get

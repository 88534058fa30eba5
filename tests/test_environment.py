"""The package imports cleanly in both environments, and neural-tangents takes our apply.

neural-tangents 0.6.5 does not import on current JAX unaided (google/neural-tangents#209):
importing jaxntk must never import it, nor add the names its compatibility layer provides to JAX,
nor touch jax.config or JAX's lowerings.
"""

import importlib.util
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

import jaxntk

from conftest import REQUIRE_NT
from helpers import unit_rows


def test_import_does_not_load_neural_tangents_or_change_config():
    code = (
        "import sys, jax, jax.core, jax.interpreters.ad as ad; cfg = jax.config;"
        "before = (cfg.jax_enable_x64, cfg.jax_numpy_rank_promotion);"
        "names = (set(dir(jax.core)), set(dir(ad)), hasattr(jax, 'util'));"
        "import jaxntk, jaxntk.ntk;"
        "assert 'neural_tangents' not in sys.modules, 'jaxntk imported neural_tangents';"
        "assert 'tensorflow' not in sys.modules, 'jaxntk imported tensorflow';"
        "assert (set(dir(jax.core)), set(dir(ad)), hasattr(jax, 'util')) == names, 'touched jax';"
        "assert (cfg.jax_enable_x64, cfg.jax_numpy_rank_promotion) == before;"
        # jaxntk._threefry_cpu is opt-in: threefry keeps JAX's own (looped) CPU lowering
        "draw = jax.jit(lambda k: jax.random.bits(k, (3,))).lower(jax.random.key(0));"
        "assert ' while(' in draw.compile().as_text(), 'changed the threefry lowering';"
        "print('ok')"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_")}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


@pytest.mark.skipif(not REQUIRE_NT, reason="checks the environments the Makefile builds")
def test_make_environments_hold_neural_tangents_without_tensorflow(nt):
    assert nt.__version__ == "0.6.5"
    assert importlib.util.find_spec("tensorflow") is None  # pip install --no-deps (Makefile)
    if jax.__version__ == "0.4.23":  # the nt environment, pinned by constraints-nt.txt
        assert np.__version__.startswith("1.")


def test_neural_tangents_takes_the_flax_apply(nt, key):
    # The empirical NTK of f(x) = out_scale sum_j s_j a_j relu(w_j.x) w.r.t. W is
    # out_scale^2 (x.x') sum_j s_j^2 a_j^2 1[w_j.x > 0] 1[w_j.x' > 0] (one output, a_j^2 = 1).
    k_p, k_x, k_s = jax.random.split(key, 3)
    params = jaxntk.init_params(k_p, 5, 40)
    x = unit_rows(k_x, 7, 5)
    s = jax.random.uniform(k_s, (40,))

    def f(w, inputs):
        return jaxntk.apply({**params, "w": w}, inputs, node_scale=s)

    kernel = nt.empirical_ntk_fn(f, trace_axes=(), vmap_axes=0)(x, None, params["w"])
    active = np.asarray(x @ params["w"].T > 0, np.float64)
    want = (
        float(params["out_scale"]) ** 2
        * (np.asarray(x) @ np.asarray(x).T)
        * (active @ np.diag(np.asarray(s) ** 2) @ active.T)
    )
    np.testing.assert_allclose(np.asarray(kernel)[..., 0, 0], want, rtol=1e-10, atol=1e-14)

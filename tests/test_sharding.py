"""Surrogates (train_masked) and runs (sweep_gd) split over 4 (forced host) devices give the
1-device result.

XLA fixes the number of host devices when the backend starts, so the check runs in a fresh
Python process with ``XLA_FLAGS=--xla_force_host_platform_device_count=4``.
"""

import json
import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    """
    import json, sys
    import jax, jax.numpy as jnp, numpy as np
    import jaxntk
    from jaxntk import _threefry_cpu, rounds

    _threefry_cpu.unroll_on_cpu()  # as in the rest of the suite (conftest.py)
    assert jax.device_count() == 4, jax.devices()
    mesh = jax.sharding.Mesh(np.array(jax.devices()), ("surrogates",))
    key = jax.random.key(0)
    x = jax.random.normal(jax.random.key(1), (32, 48), jnp.float32)
    x = x / jnp.linalg.norm(x, axis=1, keepdims=True)
    y = jnp.sin(3.0 * x[:, :2])
    params = jaxntk.init_params(jax.random.key(2), 48, 64, 2, dtype=jnp.float32)
    out = {}
    for path in ("plain", "gram_compact"):
        cfg = jaxntk.MaskedConfig(8, 0.5, 3, 0.2, 4)
        w1, h1 = jaxntk.train_masked(key, params, x, y, cfg, path=path)
        w4, h4 = jaxntk.train_masked(key, params, x, y, cfg, path=path, mesh=mesh)
        scale = float(jnp.abs(w1["w"]).max())
        out[path] = {
            "w": float(jnp.abs(w4["w"] - w1["w"]).max()) / scale,
            "loss": float(jnp.abs(h4.loss - h1.loss).max() / h1.loss.max()),
            "trained": float(h1.loss[-1] / h1.loss[0]),
        }
        # The surrogate axis is really split: the compiled round has cross-device collectives.
        plan = jaxntk.train._plan(cfg, path, rounds.resolve(
            path, 32, 48, 64, 2, cfg, 0.5)[1], mesh)
        run = rounds.Run(key[None], jax.tree_util.tree_map(lambda a: a[None], params),
                         jnp.ones((1, 64)), jnp.full((1,), 0.5), jnp.full((1,), 0.2),
                         jnp.full((1,), 8, jnp.int32))
        hlo = rounds.run.lower(run, x, y, plan).compile().as_text()
        out[path]["collectives"] = sum(hlo.count(op) for op in
                                       ("all-reduce", "all-gather", "reduce-scatter", "all-to-all"))
    try:
        jaxntk.train_masked(key, params, x, y, jaxntk.MaskedConfig(6, 0.5, 1, 0.1, 1), mesh=mesh)
    except ValueError as err:
        out["error"] = str(err)
    # sweep_gd: 5 runs over a 4-device "runs" axis (padded to 8), plain and checkpointed
    runs_mesh = jax.sharding.Mesh(np.array(jax.devices()), ("runs",))
    many = jax.vmap(lambda k: jaxntk.init_params(
        k, 48, 64, 2, parameterization="asym_code", dtype=jnp.float32))(jax.random.split(key, 5))
    scale = jnp.sqrt(jaxntk.scaling.node_scales(None, 64, gamma=0.5, dtype=jnp.float32))
    gd_cfg = jaxntk.GDConfig(lr=20.0, num_steps=30, log_every=10, loss="mean", ntk_points=8)
    one = jaxntk.sweep_gd(many, x, y, gd_cfg, node_scale=scale)
    split = jaxntk.sweep_gd(many, x, y, gd_cfg, node_scale=scale, mesh=runs_mesh)
    chunked = jaxntk.sweep_gd(many, x, y, gd_cfg, node_scale=scale, mesh=runs_mesh,
                              checkpoint=sys.argv[1], checkpoint_every=10)
    leaves = [jax.tree_util.tree_leaves(r) for r in (one, split, chunked)]
    out["sweep_gd"] = {
        "shape": list(split[0]["w"].shape),
        "bitwise": [all(np.array_equal(a, b) for a, b in zip(leaves[0], other))
                    for other in leaves[1:]],
        "trained": float((one[1].train_risk[:, -1] / one[1].train_risk[:, 0]).max()),
    }
    print(json.dumps(out))
    """
)


@pytest.fixture(scope="module")
def four_devices(tmp_path_factory):
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4"}
    env["JAX_PLATFORMS"] = "cpu"
    path = tmp_path_factory.mktemp("sweep_gd") / "runs.npz"
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(path)], env=env, capture_output=True, text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("path", ["plain", "gram_compact"])
def test_four_devices_equal_one(four_devices, path):
    result = four_devices[path]
    assert result["trained"] < 0.9  # the runs learn something
    # Cross-device sums may add in another order: float32 rounding, not a different result.
    assert result["w"] < 1e-5
    assert result["loss"] < 1e-5
    assert result["collectives"] > 0


def test_surrogates_must_divide_over_devices(four_devices):
    assert "num_subnets=6 must be a multiple of the 4 devices" in four_devices["error"]


def test_sweep_gd_runs_over_four_devices_are_bitwise_one_device(four_devices):
    result = four_devices["sweep_gd"]
    assert result["shape"] == [5, 64, 48]  # the 3 padding runs are dropped
    assert result["bitwise"] == [True, True]  # each device trains its own runs: no reduction
    assert result["trained"] < 0.9

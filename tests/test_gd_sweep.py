"""sweep_gd: R runs of train_gd as one program, equal to the jitted, vmapped train_gd (the form
the experiments ran before sweep_gd); checkpointed and resumed bitwise.

The runs over a "runs" mesh axis of 4 devices: test_sharding.py (a fresh process).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxntk
from jaxntk import checkpoint, scaling

from helpers import regression_data

D, M = 6, 32
CFG = jaxntk.GDConfig(lr=1.0, num_steps=40, log_every=10, loss="mean", ntk_points=8)


def problem():
    x, y = regression_data(jax.random.key(1), 20, D, out_dim=1, dtype=jnp.float32)
    keys = jax.random.split(jax.random.key(0), 3)
    params = jax.vmap(
        lambda k: jaxntk.init_params(k, D, M, parameterization="asym_code", dtype=jnp.float32)
    )(keys)
    scales = jnp.stack(
        [jnp.sqrt(scaling.node_scales(None, M, gamma=g, dtype=jnp.float32)) for g in (1.0, 0.5)]
    )
    return params, scales, x, y


def same(a, b) -> bool:
    la, lb = jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)
    return len(la) == len(lb) and all(np.array_equal(p, q) for p, q in zip(la, lb))


@pytest.mark.parametrize("shared", ["params", "node_scale"])
def test_runs_are_bitwise_the_vmapped_train_gd(shared):
    params, scales, x, y = problem()
    test = {"x_test": x[:5], "y_test": y[:5]}
    if shared == "params":  # one network, a node scale per run (configurations)
        one = jax.tree_util.tree_map(lambda a: a[0], params)
        got = jaxntk.sweep_gd(one, x, y, CFG, node_scale=scales, **test)
        # the reference batches every run's params too, as sweep_gd does (vmap over an
        # unbatched network compiles another program: one ulp off)
        each = jax.tree_util.tree_map(lambda a: jnp.broadcast_to(a, (2,) + a.shape), one)
        want = jax.jit(
            jax.vmap(lambda p, s: jaxntk.train_gd(p, x, y, CFG, node_scale=s, **test))
        )(each, scales)
    else:  # a network per run (seeds), one node scale
        got = jaxntk.sweep_gd(params, x, y, CFG, node_scale=scales[1], **test)
        want = jax.jit(
            jax.vmap(lambda p: jaxntk.train_gd(p, x, y, CFG, node_scale=scales[1], **test))
        )(params)
    runs = 2 if shared == "params" else 3
    assert got[1].train_risk.shape == (runs, CFG.num_logs)
    assert got[0]["w"].shape == (runs, M, D)
    # The documented guarantee: float rounding (one ulp in a logged risk measured on jax
    # 0.4.23); on the current JAX every leaf is bitwise equal (the experiments' results.npz
    # were byte-identical before and after they moved to sweep_gd).
    for a, b in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-9)
    assert np.array_equal(got[0]["w"], want[0]["w"])
    assert np.all(got[1].train_risk[:, -1] < 0.9 * got[1].train_risk[:, 0])  # they train


def test_a_killed_sweep_resumes_bitwise(tmp_path, monkeypatch):
    params, scales, x, y = problem()
    grid = jax.tree_util.tree_map(lambda a: jnp.tile(a, (2,) + (1,) * (a.ndim - 1)), params)
    run_scales = jnp.repeat(scales, 3, axis=0)  # 2 configurations x 3 seeds, config-major
    whole = jaxntk.sweep_gd(grid, x, y, CFG, node_scale=run_scales)
    path = tmp_path / "sweep.npz"
    real = checkpoint.save

    def save_then_stop(*args, **kwargs):
        real(*args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint, "save", save_then_stop)
    with pytest.raises(KeyboardInterrupt):
        jaxntk.sweep_gd(grid, x, y, CFG, node_scale=run_scales, checkpoint=path,
                        checkpoint_every=20)  # fmt: skip
    monkeypatch.setattr(checkpoint, "save", real)
    assert checkpoint.load(path)[1]["done"] == 2  # logs 10 and 20 of 4
    resumed = jaxntk.sweep_gd(grid, x, y, CFG, node_scale=run_scales, checkpoint=path,
                              checkpoint_every=20, resume=True)  # fmt: skip
    assert same(resumed, whole)
    with pytest.raises(jaxntk.CheckpointError, match="node_scale"):  # other inputs: refused
        jaxntk.sweep_gd(grid, x, y, CFG, node_scale=run_scales[::-1], checkpoint=path,
                        checkpoint_every=20, resume=True)  # fmt: skip


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p, s: (p, s[:2]), "params hold 3 runs but node_scale 2"),
        (lambda p, s: (jax.tree_util.tree_map(lambda a: a[0], p), s[0]), "needs a leading run"),
        (lambda p, s: ({"a": p["a"]}, s[0]), r"params must be one jaxntk.init_params output"),
        (lambda p, s: (p, jnp.full((3, M), jnp.nan)), r"node_scale holds \d+ NaN"),
    ],
    ids=["runs differ", "no run axis", "no w", "NaN scale"],
)
def test_bad_runs_are_refused_by_name(change, message):
    params, scales, x, y = problem()
    params3, scales3 = change(params, jnp.concatenate([scales, scales[:1]]))
    with pytest.raises(ValueError, match=message):
        jaxntk.sweep_gd(params3, x, y, CFG, node_scale=scales3)


def test_a_mesh_without_a_runs_axis_is_refused():
    params, scales, x, y = problem()
    mesh = jax.sharding.Mesh(np.array(jax.devices()[:1]), ("surrogates",))
    with pytest.raises(ValueError, match="mesh axis named 'runs'"):
        jaxntk.sweep_gd(params, x, y, CFG, node_scale=scales[0], mesh=mesh)


def test_a_diverging_run_is_named():
    params, scales, x, y = problem()
    # run 1's node scale x30 multiplies its NTK by 900: lr 1 is far past its stable step size
    run_scales = jnp.stack([scales[1], 30 * scales[1], scales[1]])
    with pytest.raises(jaxntk.DivergenceError, match="sweep_gd run 1 diverged"):
        jaxntk.sweep_gd(params, x, y, CFG, node_scale=run_scales)

"""One of the two processes of tests/test_processes.py (not a test module itself).

``python tests/two_process_worker.py PORT PROCESS_ID MODE FOLDER``: joins the other process
through ``jaxntk.distributed.initialize`` (2 processes x 2 CPU devices = 4 global devices),
runs MODE and prints one JSON line of measurements. Every comparison is with the same call on
this process alone (no mesh: the one-process result).

MODE ``all``: train_masked over "surrogates", sweep_masked over "runs" and over both axes,
sweep_gd over "runs" (plain and checkpointed), and process 1 given other x. ``kill``: a
checkpointed sweep_gd that exits after its first chunk is saved. ``resume``: the same call
with ``resume=True``.
"""

import json
import os
import sys

import jax

jax.config.update("jax_num_cpu_devices", 2)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import jaxntk  # noqa: E402
from jaxntk import _threefry_cpu, checkpoint, distributed, runner  # noqa: E402

KILLED = 17  # the exit status of MODE kill


def relative(a, b) -> float:
    """Largest |a - b| over the leaves, relative to the largest |a| of each leaf."""
    worst = 0.0
    for u, v in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        u, v = np.asarray(u, np.float64), np.asarray(v, np.float64)
        worst = max(worst, float(np.abs(u - v).max() / max(np.abs(u).max(), 1e-30)))
    return worst


def bitwise(a, b) -> bool:
    pairs = zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b))
    return all(np.array_equal(np.asarray(u), np.asarray(v)) for u, v in pairs)


def data():
    x = jax.random.normal(jax.random.key(1), (32, 24), jnp.float32)
    x = x / jnp.linalg.norm(x, axis=1, keepdims=True)
    return x, jnp.sin(3.0 * x[:, :2])


def gd_problem():
    """5 runs (padded to 8 over 4 devices) of sweep_gd."""
    x, y = data()
    keys = jax.random.split(jax.random.key(3), 5)
    params = jax.vmap(
        lambda k: jaxntk.init_params(k, 24, 64, 2, parameterization="asym_code", dtype=jnp.float32)
    )(keys)
    scale = jnp.sqrt(jaxntk.scaling.node_scales(None, 64, gamma=0.5, dtype=jnp.float32))
    cfg = jaxntk.GDConfig(lr=20.0, num_steps=40, log_every=10, loss="mean", ntk_points=8)
    return params, x, y, cfg, scale


def count_writes():
    """Every file this process writes through jaxntk.checkpoint, counted."""
    counts = {"files": 0}
    real = checkpoint.save_npz

    def counted(path, flat):
        counts["files"] += 1
        return real(path, flat)

    checkpoint.save_npz = counted
    return counts


def mode_all(folder) -> dict:
    out = {}
    devices = np.array(jax.devices())
    x, y = data()
    key = jax.random.key(0)
    params = jaxntk.init_params(jax.random.key(2), 24, 64, 2, dtype=jnp.float32)
    surrogates = jax.sharding.Mesh(devices, ("surrogates",))
    cfg = jaxntk.MaskedConfig(4, 0.5, 3, 0.2, 4)
    for path in ("plain", "gram_compact"):
        alone = jaxntk.train_masked(key, params, x, y, cfg, path=path)
        split = jaxntk.train_masked(key, params, x, y, cfg, path=path, mesh=surrogates)
        out[f"train_masked/{path}"] = relative(alone, split)
    out["trained"] = float(alone[1].loss[-1] / alone[1].loss[0])

    keys = jax.random.split(jax.random.key(4), 3)
    many = jax.vmap(lambda k: jaxntk.init_params(k, 24, 64, 2, dtype=jnp.float32))(keys)
    grid = {"num_subnets": [2, 4, 4], "keep_prob": [0.5, 0.5, 0.7]}
    meshes = {
        "runs": jax.sharding.Mesh(devices, ("runs",)),
        "both": jax.sharding.Mesh(devices.reshape(2, 2), ("runs", "surrogates")),
    }
    for path in ("plain", "gram_compact"):
        alone = jaxntk.sweep_masked(keys, many, x, y, cfg, path=path, **grid)
        for name, mesh in meshes.items():
            split = jaxntk.sweep_masked(keys, many, x, y, cfg, path=path, mesh=mesh, **grid)
            out[f"sweep_masked/{path}/{name}"] = relative(alone, split)
            out[f"sweep_masked/{path}/{name}/bitwise"] = bitwise(alone, split)

    gd_params, gx, gy, gd_cfg, scale = gd_problem()
    alone = jaxntk.sweep_gd(gd_params, gx, gy, gd_cfg, node_scale=scale)
    runs = meshes["runs"]
    split = jaxntk.sweep_gd(gd_params, gx, gy, gd_cfg, node_scale=scale, mesh=runs)
    counts = count_writes()
    saving = {"checkpoint": os.path.join(folder, "gd.npz"), "checkpoint_every": 10}
    chunked = jaxntk.sweep_gd(gd_params, gx, gy, gd_cfg, node_scale=scale, mesh=runs, **saving)
    out["sweep_gd/bitwise"] = bitwise(alone, split)
    out["sweep_gd/checkpointed/bitwise"] = bitwise(alone, chunked)
    out["sweep_gd/shape"] = list(np.shape(split[0]["w"]))
    out["files_written"] = counts["files"]

    mine = gx if jax.process_index() == 0 else gx.at[0, 0].add(1.0)  # process 1: other data
    try:
        jaxntk.sweep_gd(gd_params, mine, gy, gd_cfg, node_scale=scale, mesh=runs)
        out["differing_x"] = None
    except ValueError as err:
        out["differing_x"] = str(err)
    return out


def mode_gd(folder, resume: bool) -> dict:
    gd_params, gx, gy, gd_cfg, scale = gd_problem()
    if not resume:  # exit as a kill would, once the first chunk is on disk
        real = runner.watchdog.beat

        def beat(what):
            real(what)
            if "chunk done" in what:
                os._exit(KILLED)

        runner.watchdog.beat = beat
    mesh = jax.sharding.Mesh(np.array(jax.devices()), ("runs",))
    got = jaxntk.sweep_gd(gd_params, gx, gy, gd_cfg, node_scale=scale, mesh=mesh,
                          checkpoint=os.path.join(folder, "gd.npz"), checkpoint_every=10,
                          resume=resume)  # fmt: skip
    alone = jaxntk.sweep_gd(gd_params, gx, gy, gd_cfg, node_scale=scale)
    return {"resumed/bitwise": bitwise(alone, got)}


def main() -> None:
    port, process_id, mode, folder = sys.argv[1:5]
    _threefry_cpu.unroll_on_cpu()  # as in the rest of the suite (conftest.py)
    distributed.initialize(f"localhost:{port}", 2, int(process_id), timeout=60)
    assert jax.device_count() == 4 and jax.local_device_count() == 2, jax.devices()
    out = mode_all(folder) if mode == "all" else mode_gd(folder, resume=mode == "resume")
    print(json.dumps({"process": jax.process_index(), **out}), flush=True)


if __name__ == "__main__":
    main()

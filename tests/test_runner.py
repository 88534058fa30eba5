"""jaxntk.runner.run: chunks, checkpoints, resume and the host check, on a toy recurrence.

The toy: state s (2,) and unit i map to s <- 0.5 s + i with log s, a recurrence whose closed form
is easy to write in NumPy; a state pytree with two leaves and logs with two leaves.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxntk import checkpoint, runner


@functools.partial(jax.jit, static_argnames="size")
def advance(state, first, size):
    def unit(s, i):
        s = {"x": 0.5 * s["x"] + i, "n": s["n"] + 1}
        return s, {"x": s["x"], "i": i}

    return jax.lax.scan(unit, state, jnp.arange(size) + first)


def start():
    return {"x": jnp.array([1.0, -2.0]), "n": jnp.array(0)}


def closed_form(total):
    x, logs = np.array([1.0, -2.0]), []
    for i in range(total):
        x = 0.5 * x + i
        logs.append(x)
    return x, np.array(logs)


def test_unchunked_and_chunked_runs_equal_the_closed_form(tmp_path):
    x, logs = closed_form(7)
    state, got = runner.run(advance, start(), 7)
    np.testing.assert_allclose(state["x"], x, rtol=1e-12)
    np.testing.assert_allclose(got["x"], logs, rtol=1e-12)
    state_c, got_c = runner.run(advance, start(), 7, every=3, checkpoint=tmp_path / "c.npz")
    np.testing.assert_array_equal(got_c["x"], got["x"])
    np.testing.assert_array_equal(got_c["i"], np.arange(7))
    assert int(state_c["n"]) == 7
    assert checkpoint.load(tmp_path / "c.npz")[1]["done"] == 7


def test_resume_continues_bitwise_and_checks_the_fingerprint(tmp_path, monkeypatch):
    path = tmp_path / "run.npz"
    whole = runner.run(advance, start(), 7, every=2, checkpoint=tmp_path / "w.npz")
    real, saves = checkpoint.save, []

    def save_twice_then_stop(*args, **kwargs):
        real(*args, **kwargs)
        saves.append(1)
        if len(saves) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint, "save", save_twice_then_stop)
    with pytest.raises(KeyboardInterrupt):
        runner.run(advance, start(), 7, every=2, checkpoint=path, fingerprint={"run": 1})
    monkeypatch.setattr(checkpoint, "save", real)
    assert checkpoint.load(path)[1]["done"] == 4
    with pytest.raises(checkpoint.CheckpointError, match="field run"):
        runner.run(advance, start(), 7, every=2, checkpoint=path, fingerprint={"run": 2},
                   resume=True)  # fmt: skip
    state, logs = runner.run(
        advance, start(), 7, every=2, checkpoint=path, fingerprint={"run": 1}, resume=True
    )
    np.testing.assert_array_equal(state["x"], whole[0]["x"])
    np.testing.assert_array_equal(logs["x"], whole[1]["x"])


def test_a_failing_check_stops_before_the_chunk_is_saved(tmp_path):
    path = tmp_path / "run.npz"
    seen = []

    def check(logs):
        seen.append(len(logs["i"]))
        if len(logs["i"]) > 4:
            raise FloatingPointError("diverged")

    with pytest.raises(FloatingPointError):
        runner.run(advance, start(), 9, every=2, checkpoint=path, check=check)
    assert seen == [2, 4, 6]  # the logs so far, after every chunk
    assert checkpoint.load(path)[1]["done"] == 4  # the failing chunk was never written


def test_zero_units_and_a_batch_axis(tmp_path):
    state, logs = runner.run(advance, start(), 0, checkpoint=tmp_path / "z.npz")
    assert logs["x"].shape == (0, 2) and int(state["n"]) == 0
    # Two runs as a batch: the logs' unit axis is 1.
    batched = jax.vmap(advance, in_axes=(0, None, None), out_axes=0)
    two = jax.tree_util.tree_map(lambda a: jnp.stack([a, 2 * a]), start())
    go = functools.partial(runner.run, lambda s, f, n: batched(s, f, n), two, 5, log_axis=1)
    _, whole = go()
    _, cut = go(every=2, checkpoint=tmp_path / "b.npz")
    assert cut["x"].shape == (2, 5, 2)
    np.testing.assert_array_equal(cut["x"], whole["x"])

r"""The one chunked runner: a compiled step function over a state, checkpointed between chunks.

Every long computation in jaxntk (``train_masked``'s rounds, ``train_gd``'s logs, the
experiments' vmapped stages) is ``advance(state, first, size) -> (state, logs)``: ``size``
(static) units — rounds, or logs of GD steps — from unit ``first`` (traced, so one compilation
serves every chunk of equal size), each unit adding one entry to the leaves of ``logs`` along
``log_axis``. ``run`` calls it:

* without ``checkpoint``: once, for all units (under ``jax.jit``/``jax.vmap`` too);
* with ``checkpoint``: in chunks of ``every`` units; after each chunk, ``check`` (e.g. the
  divergence test) runs on the host and then the state and the logs so far are written to the
  checkpoint atomically (``jaxntk.checkpoint``), so a diverged state is never saved. With
  ``resume`` a run continues from the file; the result is bitwise that of an uninterrupted run
  cut into the same chunks, since each chunk starts from exactly the saved arrays.

The file stores the leaves of ``(state, logs)`` by position; their structure comes from the
caller's initial state and from ``jax.eval_shape`` of a chunk, and the fingerprint (the run's
configuration and input digests) must match the caller's, else ``CheckpointError``.

Every chunk's end bumps the stall watchdog's heartbeat (``jaxntk.watchdog.beat``). In a
multi-process run (``jaxntk.distributed``) process 0 alone reads and writes the file, and hands
what it read to the others; the logs and the saved state are gathered whole on every process.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxntk import checkpoint as checkpoint_io
from jaxntk import distributed, watchdog


def _leaves(tree) -> dict:
    leaves = jax.tree_util.tree_leaves(distributed.to_host(tree))
    return {str(i): leaf for i, leaf in enumerate(leaves)}


def _restore(flat: dict, like):
    """The pytree of ``like`` (arrays or ShapeDtypeStructs) with the stored leaves."""
    leaves, treedef = jax.tree_util.tree_flatten(like)
    if len(flat) != len(leaves):
        raise checkpoint_io.CheckpointError(
            f"the checkpoint holds {len(flat)} arrays where this run has {len(leaves)}"
        )
    return jax.tree_util.tree_unflatten(
        treedef, [jnp.asarray(flat[str(i)], leaf.dtype) for i, leaf in enumerate(leaves)]
    )


def _concatenate(parts, log_axis):
    return jax.tree_util.tree_map(lambda *a: np.concatenate(a, axis=log_axis), *parts)


def _traced(tree) -> bool:
    return any(isinstance(v, jax.core.Tracer) for v in jax.tree_util.tree_leaves(tree))


def run(
    advance: Callable,
    state,
    total: int,
    *,
    every: int | None = None,
    checkpoint=None,
    fingerprint: dict | None = None,
    resume: bool = False,
    check: Callable | None = None,
    log_axis: int = 0,
):
    """``(state, logs)`` after ``total`` units of ``advance`` (module docstring).

    Args:
      advance: ``(state, first, size) -> (state, logs)``, pure; ``size`` is static.
      state: the initial state (a pytree of arrays).
      total: number of units (>= 1).
      every: units per chunk with ``checkpoint`` (default: all in one chunk).
      checkpoint: optional ``.npz`` path written after every chunk.
      fingerprint: JSON-serialisable dict identifying the run; stored with the checkpoint and
        compared on ``resume``.
      resume: continue from ``checkpoint`` when the file exists.
      check: optional ``check(logs) -> None`` on the logs so far (concrete arrays), after each
        chunk and before it is saved; it may raise. Skipped when the logs are traced.
      log_axis: the axis of the logs' leaves that counts units (1 for a batch of runs).

    Returns:
      The final state and the logs of all units (host arrays with ``checkpoint``).
    """
    if checkpoint is None:
        state, logs = advance(state, 0, total)
        if check is not None and not _traced(logs):
            check(logs)
        watchdog.beat(f"runner: {total} units in one chunk")
        return state, logs
    every = every or total
    done, parts = 0, []
    stored = None
    if resume:  # process 0 decides and reads; every process continues from what it read
        stored = distributed.on_writer(
            lambda: checkpoint_io.load(checkpoint, fingerprint)
            if os.path.exists(checkpoint) else None
        )  # fmt: skip
    if stored is not None:
        tree, meta = stored
        done = meta["done"]
        state = _restore(tree.get("state", {}), state)
        shapes = jax.eval_shape(lambda s: advance(s, 0, done)[1], state)
        parts = [jax.tree_util.tree_map(np.asarray, _restore(tree.get("logs", {}), shapes))]
    while not parts or done < total:  # a run of 0 units still writes its (empty) logs
        size = min(every, total - done)
        state, logs = advance(state, done, size)
        parts = [_concatenate(parts + [distributed.to_host(logs)], log_axis)]
        done += size
        if check is not None:
            check(parts[0])
        saved = {"state": _leaves(state), "logs": _leaves(parts[0])}
        meta = {**(fingerprint or {}), "done": done}
        distributed.on_writer(lambda s=saved, m=meta: checkpoint_io.save(checkpoint, s, m))
        watchdog.beat(f"runner: chunk done, {done}/{total} units")
    return state, parts[0]

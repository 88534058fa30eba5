r"""Several processes as one program (JAX's multi-controller runtime, ``jax.distributed``).

Launched as N processes, every process runs the same program over the global devices. These are
JAX's conventions, which jaxntk's entries enforce through this module:

* **Every process passes the same inputs.** ``check_same`` compares a digest of each named input
  across processes and raises the same ``ValueError`` on every process, naming the inputs that
  differ: a process given other data would otherwise train its own shard on them, silently.
* **Process 0 does the I/O.** ``on_writer(fn)`` runs ``fn`` (a checkpoint read or written, a
  result saved) on process 0 only and hands its return value, or the exception it raised, to
  every process. A resume decision is therefore the same everywhere, files are written once
  (no race on a shared file system), and an error on process 0 ends every process with that
  error instead of leaving the others waiting in a collective.
* **Results come back whole.** ``whole`` gathers an array split over processes' devices (a
  sweep's runs) so that every process holds the complete result.

With one process every function is the identity of its single-process meaning: ``check_same``
returns, ``on_writer`` calls ``fn``, ``whole`` returns its argument. ``initialize`` starts the
runtime from the command line's flags, or from a SLURM / Open MPI environment.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import re

import jax
import numpy as np

from jaxntk import checkpoint as checkpoint_io

# A cluster launcher's own variables: more than one task means JAX can read the cluster itself.
_CLUSTER_SIZE = ("SLURM_NTASKS", "OMPI_COMM_WORLD_SIZE")
# How long the other processes wait for process 0's I/O (``on_writer``). Gloo's collectives give
# up when processes reach them ~30 s apart (measured: a 45 s write on process 0 ended both
# processes), so the others first wait at the coordination service's barrier, which takes a
# timeout; a process that dies meanwhile ends the others through JAX's heartbeat.
WRITER_TIMEOUT = 3600.0
_calls = [0]  # on_writer calls so far: the same sequence on every process names the barriers


def initialize(coordinator=None, num_processes=None, process_id=None, *, timeout=None) -> bool:
    """Start ``jax.distributed`` before any computation; True if this is a multi-process run.

    With ``coordinator`` ("HOST:PORT", process 0's address), ``num_processes`` and
    ``process_id`` as given; with none of them, from the cluster's environment when a SLURM or
    Open MPI launcher started more than one task (JAX reads it there); else nothing (one
    process). ``timeout``: seconds to wait for every process to join (JAX's default: 300).
    """
    given = {"coordinator": coordinator, "num_processes": num_processes, "process_id": process_id}
    if all(v is None for v in given.values()):
        if not any(int(os.environ.get(v, "1") or 1) > 1 for v in _CLUSTER_SIZE):
            return False
        kwargs = {}
    else:
        missing = [f"--{k}" for k, v in given.items() if v is None]
        if missing:
            raise ValueError(
                "--coordinator, --num_processes and --process_id go together (or none of them, "
                f"on SLURM / Open MPI); missing {', '.join(missing)}"
            )
        if not re.fullmatch(r"[^\s:]+:\d+", str(coordinator)):
            raise ValueError(
                f"--coordinator {coordinator!r}: write process 0's address as HOST:PORT, e.g. "
                "localhost:12345"
            )
        if not (isinstance(num_processes, int) and num_processes >= 1):
            raise ValueError(f"--num_processes must be a whole number >= 1, got {num_processes}")
        if not (isinstance(process_id, int) and 0 <= process_id < num_processes):
            raise ValueError(
                f"--process_id must lie in [0, {num_processes}) (one per process), got "
                f"{process_id}"
            )
        kwargs = {"coordinator_address": coordinator, "num_processes": num_processes,
                  "process_id": process_id}  # fmt: skip
    if timeout is not None:
        kwargs["initialization_timeout"] = int(timeout)
    jax.distributed.initialize(**kwargs)
    return jax.process_count() > 1


def is_writer() -> bool:
    """Whether this process does the I/O (process 0)."""
    return jax.process_index() == 0


def _digest(value) -> bytes:
    """16 bytes identifying ``value``: a pytree's structure and every leaf (arrays by shape,
    dtype and bytes; PRNG keys by their data; anything else by its repr)."""
    leaves, treedef = jax.tree_util.tree_flatten(value)
    h = hashlib.sha256(str(treedef).encode())
    for leaf in leaves:
        if _spans_processes(leaf):
            # already one global value: JAX built it from every process's part
            h.update(f"global{leaf.shape}{leaf.dtype}".encode())
        elif hasattr(leaf, "dtype") and hasattr(leaf, "shape"):
            if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
                leaf = checkpoint_io.key_data(leaf)
            h.update(checkpoint_io.digest(leaf).encode())
        else:
            h.update(repr(leaf).encode())
    return h.digest()[:16]


def check_same(what: str, **named) -> None:
    """Raise the same ``ValueError`` on every process if any named input differs between them.

    ``what`` names the entry (e.g. "sweep_gd"); each keyword is one input (arrays, pytrees,
    configurations). A collective: every process must call it with the same names.
    """
    if jax.process_count() == 1:
        return
    from jax.experimental import multihost_utils

    names = sorted(named)
    mine = np.stack([np.frombuffer(_digest(named[k]), np.uint8) for k in names])
    everyone = np.asarray(multihost_utils.process_allgather(mine))  # (processes, inputs, 16)
    differ = [
        (name, [int(p) for p in np.nonzero((everyone[:, i] != everyone[0, i]).any(-1))[0]])
        for i, name in enumerate(names)
    ]
    differ = [(name, procs) for name, procs in differ if procs]
    if differ:
        listed = "; ".join(f"{name} (processes {procs} vs process 0)" for name, procs in differ)
        raise ValueError(
            f"{what}: every process must pass the same inputs (one program over every process's "
            f"devices), but these differ between processes: {listed}. Give every process the "
            "same data, configuration and keys (e.g. read them from one file)"
        )


def _broadcast_bytes(payload: bytes) -> bytes:
    """Process 0's ``payload`` on every process (JAX's broadcast collective)."""
    from jax.experimental import multihost_utils

    size = int(multihost_utils.broadcast_one_to_all(np.int32(len(payload))))
    buffer = np.zeros(size, np.uint8)
    if is_writer():
        buffer[:] = np.frombuffer(payload, np.uint8)
    return np.asarray(multihost_utils.broadcast_one_to_all(buffer)).tobytes()


def _barrier(name: str) -> None:
    """Every process at ``name`` (JAX's coordination service; ``WRITER_TIMEOUT``)."""
    from jax._src import distributed as runtime  # the client has no public name

    runtime.global_state.client.wait_at_barrier(name, int(WRITER_TIMEOUT * 1000))


def on_writer(fn):
    """``fn()`` on process 0 only; its value (or its exception, raised) on every process.

    The value must pickle (NumPy arrays, dicts, dataclasses): it is what process 0 read or
    decided, handed to the others. A collective: every process must reach the same calls.
    """
    if jax.process_count() == 1:
        return fn()
    error = None
    if is_writer():
        try:
            outcome = (True, fn())
        except Exception as err:  # noqa: BLE001 - handed to every process, then raised
            error, outcome = err, (False, err)
        try:
            payload = pickle.dumps(outcome)
        except Exception:  # noqa: BLE001 - an unpicklable value or error: its text
            text = f"{type(error or outcome[1]).__name__}: {error or outcome[1]}"
            payload = pickle.dumps((False, RuntimeError(f"process 0: {text}")))
    else:
        payload = b""
    _calls[0] += 1
    _barrier(f"jaxntk.on_writer.{_calls[0]}")
    ok, value = pickle.loads(_broadcast_bytes(payload))
    if error is not None:
        raise error  # process 0 raises its own, with its traceback
    if not ok:
        raise value
    return value


def _spans_processes(leaf) -> bool:
    """A concrete array with a part on another process's devices (never a tracer)."""
    return (
        isinstance(leaf, jax.Array)
        and not isinstance(leaf, jax.core.Tracer)
        and not leaf.is_fully_addressable
    )


def whole(tree):
    """``tree`` with every array that spans other processes' devices gathered into a local
    one (the complete value on every process); other leaves unchanged."""

    def one(leaf):
        if _spans_processes(leaf):
            from jax.experimental import multihost_utils

            return np.asarray(multihost_utils.process_allgather(leaf, tiled=True))
        return leaf

    return jax.tree_util.tree_map(one, tree)


def to_host(tree):
    """``tree`` as NumPy arrays, each complete (``whole``)."""
    return jax.tree_util.tree_map(np.asarray, whole(tree))

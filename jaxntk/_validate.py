"""Argument checks shared by the public functions.

Every check raises a ``ValueError`` that names the argument, what it got and what is allowed, so a
user sees the fix at the call they wrote, not a traceback from inside XLA. Checks that need values
(NaN/inf) run only on concrete arrays: under ``jit``/``vmap`` the arguments are tracers and only
their shapes and dtypes can be checked.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Iterable

import jax
import jax.numpy as jnp
import numpy as np


def integer(name: str, value, *, minimum: int) -> int:
    """``value`` as an int >= ``minimum`` (bools and floats are refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    return int(value)


def _as_float(value) -> float | None:
    """A Python float for a real number or a concrete 0-d real array, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, numbers.Real):
        return float(value)
    dtype = getattr(value, "dtype", None)
    if getattr(value, "shape", None) == () and dtype is not None:
        if jnp.issubdtype(dtype, jnp.floating) or jnp.issubdtype(dtype, jnp.integer):
            return float(value)
    return None


def positive(name: str, value) -> None:
    """A finite number > 0; tracers pass (they are checked where they were made)."""
    if isinstance(value, jax.core.Tracer):
        return
    number = _as_float(value)
    if number is None or not math.isfinite(number) or number <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")


def probability(name: str, value) -> None:
    """A number in (0, 1]; tracers pass."""
    if isinstance(value, jax.core.Tracer):
        return
    number = _as_float(value)
    if number is None or not 0.0 < number <= 1.0:
        raise ValueError(f"{name} must be a probability in (0, 1], got {value!r}")


def choice(name: str, value, options: Iterable[str]) -> str:
    """One of ``options`` (a registry's keys)."""
    options = tuple(options)
    if value not in options:
        raise ValueError(f"unknown {name} {value!r}; choose one of {', '.join(map(repr, options))}")
    return value


def key(value, name: str = "key") -> None:
    """A JAX PRNG key: a new-style typed key or a legacy uint32[2] key."""
    if isinstance(value, jax.core.Tracer):
        dtype = value.dtype
    elif isinstance(value, (jax.Array, np.ndarray)):
        dtype = value.dtype
    else:
        raise ValueError(
            f"{name} must be a JAX PRNG key, got {type(value).__name__}; "
            "make one with jax.random.key(seed) (or jax.random.PRNGKey(seed))"
        )
    if jnp.issubdtype(dtype, jax.dtypes.prng_key):
        return
    if dtype == jnp.uint32 and value.shape[-1:] == (2,):
        return
    raise ValueError(
        f"{name} must be a JAX PRNG key, got an array of dtype {dtype} and shape {value.shape}; "
        "make one with jax.random.key(seed) (or jax.random.PRNGKey(seed))"
    )


def finite_array(name: str, value) -> None:
    """No NaN or inf in a concrete array (tracers pass)."""
    if isinstance(value, jax.core.Tracer):
        return
    # NumPy, not jnp: under an outer jit, jnp ops on a closed-over constant return tracers.
    finite = np.isfinite(np.asarray(value))
    if not finite.all():
        bad = int(finite.size - finite.sum())
        raise ValueError(f"{name} holds {bad} NaN/inf value(s); clean or drop those rows first")


def float_matrix(name: str, value, *, dtype=None, ncols: int | None = None, nrows=None):
    """A 2-D floating array with the expected column count, row count and dtype."""
    if not hasattr(value, "shape") or not hasattr(value, "dtype"):
        raise ValueError(f"{name} must be an array, got {type(value).__name__}")
    if value.ndim != 2:
        hint = f"; use {name}[:, None] for a single column" if value.ndim == 1 else ""
        raise ValueError(f"{name} must be 2-D (rows, columns), got shape {value.shape}{hint}")
    if not jnp.issubdtype(value.dtype, jnp.floating):
        raise ValueError(
            f"{name} must hold floats, got dtype {value.dtype}; "
            f"cast with {name}.astype(jnp.float32)"
        )
    if dtype is not None and value.dtype != dtype:
        raise ValueError(
            f"{name} has dtype {value.dtype} but the weights are {dtype}; "
            f"cast with {name}.astype({jnp.dtype(dtype).name}) (or init_params(..., dtype=...))"
        )
    if value.shape[0] < 1:
        raise ValueError(f"{name} is empty (shape {value.shape}); pass at least one row")
    if ncols is not None and value.shape[1] != ncols:
        raise ValueError(f"{name} must have {ncols} columns, got shape {value.shape}")
    if nrows is not None and value.shape[0] != nrows:
        raise ValueError(
            f"{name} must have {nrows} rows (one per example), got shape {value.shape}"
        )
    finite_array(name, value)


def model_data(params, x, y, node_scale=None, *, names=("x", "y")) -> None:
    """Inputs/targets matching the network of ``params``, and an optional (width,) node scale."""
    w, a = params["w"], params["a"]
    float_matrix(names[0], x, dtype=w.dtype, ncols=w.shape[1])
    float_matrix(names[1], y, dtype=w.dtype, ncols=a.shape[1], nrows=x.shape[0])
    if node_scale is not None:
        if jnp.shape(node_scale) != (w.shape[0],):
            raise ValueError(
                f"node_scale must have shape (width,) = ({w.shape[0]},), "
                f"got {jnp.shape(node_scale)}"
            )
        finite_array("node_scale", node_scale)


def checkpointing(checkpoint, checkpoint_every, resume, *, traced: bool) -> int | None:
    """The ``checkpoint=`` / ``checkpoint_every=`` / ``resume=`` keywords of the trainers."""
    if not isinstance(resume, bool):
        raise ValueError(f"resume must be True or False, got {resume!r}")
    if checkpoint is None:
        if checkpoint_every is not None or resume:
            raise ValueError(
                "checkpoint_every and resume need checkpoint=PATH (the .npz file to save to)"
            )
        return None
    if not isinstance(checkpoint, (str, os.PathLike)):
        raise ValueError(
            f"checkpoint must be a file path (str or pathlib.Path), got {type(checkpoint).__name__}"
        )
    if traced:
        raise ValueError(
            "checkpoint= saves concrete arrays on the host, so it cannot be used inside "
            "jax.jit/jax.vmap; call the trainer outside them (or drop checkpoint=)"
        )
    if checkpoint_every is None:
        return None
    return integer("checkpoint_every", checkpoint_every, minimum=1)

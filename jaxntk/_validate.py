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
    if not isinstance(value, str) or value not in options:
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


def dtype(name: str, value):
    """``value`` as a floating NumPy dtype (None: JAX's default float)."""
    try:
        out = jnp.dtype(value) if value is not None else jnp.zeros(()).dtype
    except TypeError:
        raise ValueError(
            f"{name} must be a floating dtype such as jnp.float32, got {value!r}"
        ) from None
    if not jnp.issubdtype(out, jnp.floating):
        raise ValueError(f"{name} must be a floating dtype such as jnp.float32, got {out}")
    return out


def network(value, name: str = "params", *, runs: bool = False) -> None:
    """A network as ``jaxntk.init_params`` returns it: w (width, in_dim) and a (width, out_dim),
    floating arrays of one dtype, finite; ``runs``: every leaf with a leading run axis."""
    if not isinstance(value, dict) or "w" not in value or "a" not in value:
        got = sorted(value) if isinstance(value, dict) else type(value).__name__
        raise ValueError(
            f"{name} must be the dict jaxntk.init_params returns (keys 'w', 'a', 'out_scale', "
            f"'in_scale'), got {got}"
        )
    lead = 1 if runs else 0
    for leaf, form in (("w", "(width, in_dim)"), ("a", "(width, out_dim)")):
        array = value[leaf]
        ok = hasattr(array, "shape") and hasattr(array, "dtype") and array.ndim == 2 + lead
        if not ok or not jnp.issubdtype(array.dtype, jnp.floating):
            got = f"shape {array.shape}, dtype {array.dtype}" if hasattr(array, "dtype") else (
                type(array).__name__)  # fmt: skip
            form = f"(runs, {form[1:]}" if runs else form
            raise ValueError(
                f"{name}['{leaf}'] must be a floating array of shape {form}, got {got}; pass "
                "what jaxntk.init_params returns"
            )
    w, a = value["w"], value["a"]
    if a.shape[: lead + 1] != w.shape[: lead + 1] or a.dtype != w.dtype or 0 in w.shape:
        raise ValueError(
            f"{name}['a'] ({a.shape}, {a.dtype}) does not match {name}['w'] ({w.shape}, "
            f"{w.dtype}): one row per hidden node in both, one dtype; pass what "
            "jaxntk.init_params returns"
        )
    finite_array(f"{name}['w']", w)
    finite_array(f"{name}['a']", a)
    for leaf in ("out_scale", "in_scale"):
        scale = value.get(leaf)
        if scale is None or isinstance(scale, jax.core.Tracer):
            continue
        if np.shape(scale) != w.shape[:lead] or not np.all(np.isfinite(np.asarray(scale))):
            raise ValueError(
                f"{name}['{leaf}'] must be a finite number (one per run), got {scale!r}"
            )


def counts(name: str, value, *, low: int, high: int, each: str = "") -> np.ndarray | None:
    """A non-empty 1-D sequence of integers in [low, high] (numbers of nodes): its concrete values,
    or None for a tracer (only its dtype and rank checked)."""
    if isinstance(value, jax.core.Tracer):
        if value.ndim != 1 or not jnp.issubdtype(value.dtype, jnp.integer):
            raise ValueError(f"{name} must be a 1-D array of integers, got {value!r}")
        return None
    # NumPy, not jnp: under an outer jit, jnp ops on a closed-over constant return tracers.
    array = np.asarray(value) if not isinstance(value, dict) else np.asarray(None)
    if array.ndim != 1 or array.size == 0 or not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{name} must be a non-empty 1-D array of integers, got {value!r}")
    if array.min() < low or array.max() > high:
        raise ValueError(f"{each or name} must lie in [{low}, width={high}], got {array}")
    return array


# Elements in one array: XLA:CPU's random bits and reshapes index with 32-bit integers (a width
# of 1.3e10 aborts the process inside XLA); no shallow network or data set here comes near it.
ALLOCATION_LIMIT = 2**31 - 1


def allocation(what: str, sizes: dict, dtype=None) -> None:
    """Refuse sizes (``{argument: size}``) whose array would exceed ``ALLOCATION_LIMIT``
    elements, before XLA tries: it runs out of memory or aborts the process."""
    del dtype  # the limit is on elements, not bytes
    elements = math.prod(int(n) for n in sizes.values())
    if elements > ALLOCATION_LIMIT:
        given = " x ".join(f"{name}={n}" for name, n in sizes.items())
        raise ValueError(
            f"{what} of {given} would hold {elements:.3g} elements, more than the 2**31 - 1 "
            f"XLA indexes; check {' and '.join(sizes)}"
        )


def model_data(params, x, y, node_scale=None, *, names=("x", "y")) -> None:
    """Inputs/targets matching the network of ``params``, and an optional (width,) node scale."""
    network(params)
    w, a = params["w"], params["a"]
    float_matrix(names[0], x, dtype=w.dtype, ncols=w.shape[1])
    float_matrix(names[1], y, dtype=w.dtype, ncols=a.shape[1], nrows=x.shape[0])
    if node_scale is not None:
        per_node("node_scale", node_scale, w.shape[0])


def per_node(name: str, value, width: int) -> None:
    """A (width,) real array of finite values, one per hidden node (a node scale, a mask)."""
    dtype = getattr(value, "dtype", None) or np.asarray(value).dtype
    if jnp.shape(value) != (width,) or not (
        jnp.issubdtype(dtype, jnp.floating) or jnp.issubdtype(dtype, jnp.integer)
    ):
        raise ValueError(
            f"{name} must have shape (width,) = ({width},) and real values, got shape "
            f"{jnp.shape(value)} and dtype {dtype}"
        )
    finite_array(name, value)


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

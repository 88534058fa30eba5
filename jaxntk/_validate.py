"""Argument checks shared by the public functions.

Every check raises a ``ValueError`` that names the argument, what it got and what is allowed, so a
user sees the fix at the call they wrote, not a traceback from inside XLA. Checks that need values
(NaN/inf) run only on concrete arrays: under ``jit``/``vmap`` the arguments are tracers and only
their shapes and dtypes can be checked.

One check per concept, called by every public entry that takes that input, so no entry accepts
less than another: a network (``network``: train_masked, sweep_masked, train_gd, prune_curve,
transfer_curve), a node scale (``per_node``), keys (``key`` / ``keys``), a keep probability, a
learning rate, a K (``probability``, ``positive``, ``integer``: a grid applies the same scalar
check to every cell through ``per_cell``), node counts (``counts``: prune and transfer), a flag
(``boolean``), a share of rows (``fraction``), and data as loaded (``loaded``: every loader of
``jaxntk.data`` and the final ``Dataset``).
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


def nonnegative(name: str, value) -> float:
    """A finite number >= 0 (a noise level, a momentum's lower end)."""
    number = _as_float(value)
    if number is None or not math.isfinite(number) or number < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return number


def fraction(name: str, value, *, below_one: bool = False) -> float:
    """A number in [0, 1] (or [0, 1) with ``below_one``): a share of rows, a momentum."""
    number = _as_float(value)
    top = "1)" if below_one else "1]"
    if number is None or not (0.0 <= number < 1.0 if below_one else 0.0 <= number <= 1.0):
        raise ValueError(f"{name} must be in [0, {top}, got {value!r}")
    return number


# What a boolean option accepts: Python and NumPy booleans, and the integers 0 and 1 (the command
# line reads "1"/"0" as numbers). Strings are refused: "no" is truthy, so bool("no") would
# silently turn an option on.
def boolean(name: str, value) -> bool:
    """``value`` as a bool; anything but True/False (or 1/0) is refused."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, numbers.Integral) and value in (0, 1):
        return bool(value)
    hint = " (a string, which Python counts as true)" if isinstance(value, str) else ""
    raise ValueError(
        f"{name} must be True or False, got {value!r}{hint}; pass True or False (on the "
        "command line: true, false, yes, no, 1 or 0)"
    )


def instance(name: str, value, kind: type, spelled: str) -> None:
    """``value`` is a ``kind`` (a configuration object), named as the user writes it."""
    if not isinstance(value, kind):
        raise ValueError(f"{name} must be a {spelled}, got {type(value).__name__}")


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


def keys(value, name: str = "keys") -> int:
    """A non-empty 1-D array of typed PRNG keys (one per repetition); returns how many."""
    if not isinstance(value, jax.Array):
        try:
            value = jnp.asarray(value)
        except (TypeError, ValueError):
            value = np.asarray(None)  # not an array at all: refused below with its type
    if value.ndim != 1 or not jnp.issubdtype(value.dtype, jax.dtypes.prng_key):
        raise ValueError(
            f"{name} must be a 1-d array of typed PRNG keys, e.g. jax.random.split("
            f"jax.random.key(0), num_seeds); got shape {value.shape} and dtype {value.dtype}"
        )
    if value.shape[0] == 0:
        raise ValueError(
            f"{name} is empty: pass at least one key, e.g. jax.random.split(jax.random.key(0), 1)"
        )
    return value.shape[0]


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


def _shape_of(value) -> str:
    return f"shape {value.shape}" if hasattr(value, "shape") else type(value).__name__


def network(params, name: str = "params", *, runs: tuple = (), finite: bool = True) -> None:
    """A network as ``jaxntk.init_params`` returns it: a dict of w (width, in_dim) and a
    (width, out_dim), floating arrays of one dtype, and scalar ``out_scale`` / ``in_scale``;
    ``runs``: the leading axes every leaf carries (one network per key of a sweep).

    Each leaf is named by its key (``params['a']``), so a wrong leaf is not blamed on an argument
    derived from it (a default node scale is built from the width of ``a``). ``finite=False``
    checks the structure only (``apply``: evaluating a diverged network is allowed).
    """
    if not isinstance(params, dict) or not {"w", "a", "out_scale"} <= set(params):
        got = sorted(params) if isinstance(params, dict) else type(params).__name__
        raise ValueError(
            f"{name} must be the dict jaxntk.init_params returns (keys 'w', 'a', 'out_scale' "
            f"and optionally 'in_scale'), got {got}"
        )
    lead = "".join(f"{n}, " for n in runs)
    w, a = params["w"], params["a"]
    for leaf, form in (("w", "width, in_dim"), ("a", "width, out_dim")):
        array = params[leaf]
        ok = hasattr(array, "shape") and hasattr(array, "dtype") and array.ndim == 2 + len(runs)
        if not ok or tuple(array.shape[: len(runs)]) != tuple(runs):
            raise ValueError(
                f"{name}['{leaf}'] must have shape ({lead}{form}), got {_shape_of(array)}; pass "
                "what jaxntk.init_params returns"
            )
        if not jnp.issubdtype(array.dtype, jnp.floating):
            raise ValueError(f"{name}['{leaf}'] must hold floats, got dtype {array.dtype}")
    if a.shape[-2] != w.shape[-2] or a.dtype != w.dtype:
        raise ValueError(
            f"{name}['a'] must have shape ({lead}width, out_dim) and dtype {w.dtype} with "
            f"width = {w.shape[-2]} (the rows of {name}['w'], one per hidden node), got "
            f"shape {a.shape} and dtype {a.dtype}; pass what jaxntk.init_params returns"
        )
    if 0 in w.shape:
        raise ValueError(f"{name}['w'] is empty (shape {w.shape}); a network needs >= 1 node")
    if finite:
        finite_array(f"{name}['w']", w)
        finite_array(f"{name}['a']", a)
    for leaf in ("out_scale", "in_scale"):
        scale = params.get(leaf)
        if scale is None:
            continue
        if jnp.shape(scale) != tuple(runs):
            raise ValueError(
                f"{name}['{leaf}'] must be a number (shape {tuple(runs)}), got shape "
                f"{jnp.shape(scale)}"
            )
        if finite:
            finite_array(f"{name}['{leaf}']", scale)


def per_node(name: str, value, width: int, *, cells: int | None = None) -> None:
    """A (width,) array of finite real numbers, one per hidden node (a node scale), or one such
    row per cell of a grid: (cells, width)."""
    shape = (width,) if cells is None else (cells, width)
    form = "(width,)" if cells is None else "(cells, width)"
    if jnp.shape(value) != shape:
        raise ValueError(
            f"{name} must have shape {form} = {shape}, got {jnp.shape(value)}"
            + ("" if cells is None else "; one row of node scales per cell of the grid")
        )
    dtype = value.dtype if hasattr(value, "dtype") else np.asarray(value).dtype
    if jnp.issubdtype(dtype, jnp.bool_) or not (
        jnp.issubdtype(dtype, jnp.floating) or jnp.issubdtype(dtype, jnp.integer)
    ):
        raise ValueError(f"{name} must hold real numbers, got dtype {dtype}")
    finite_array(name, value)


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


def counts(name: str, value, *, low: int, high: int, each: str = "") -> np.ndarray | None:
    """A non-empty 1-D array of integers in [low, high] (numbers of nodes, with high the width):
    its values, or None for a tracer (only its rank and dtype can be checked). ``each`` names
    one entry in the range message ("every k")."""
    if isinstance(value, jax.core.Tracer):
        if value.ndim != 1 or not jnp.issubdtype(value.dtype, jnp.integer):
            raise ValueError(f"{name} must be a 1-D array of integers, got {value!r}")
        return None
    # NumPy, not jnp: under an outer jit, jnp ops on a closed-over constant return tracers.
    try:
        array = np.asarray(value)
    except (TypeError, ValueError):
        array = np.asarray(None)
    if array.ndim != 1 or array.size == 0 or not np.issubdtype(array.dtype, np.integer):
        raise ValueError(
            f"{name} must be a non-empty 1-D array of integers, got {value!r}; "
            f"e.g. np.arange({low}, {high} + 1, step)"
        )
    if array.min() < low or array.max() > high:
        raise ValueError(f"{each or name} must lie in [{low}, width={high}], got {array}")
    return array


# ------------------------------------------------------------------------------ loaded data


def loaded(where: str, value, *, ndims=(2,), min_rows: int = 1, fix: str = "") -> np.ndarray:
    """An array as it was read from a file or built by a loader (``where`` names it, e.g.
    ``"F.npz: 'labels'"``): real numbers, of one of the ranks ``ndims``, at least ``min_rows``
    rows, no NaN/inf. Checked where the data are loaded, so bad data never start a training."""
    fix = fix or "fix the file and load it again"
    array = np.asarray(value)
    if array.dtype == np.bool_ or not (
        np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)
    ):
        raise ValueError(f"{where} must hold real numbers, got dtype {array.dtype}; {fix}")
    if array.ndim not in ndims:
        ranks = " or ".join(f"{d}-D" for d in ndims)
        raise ValueError(f"{where} must be {ranks}, got shape {array.shape}; {fix}")
    if array.shape[0] < min_rows:
        raise ValueError(
            f"{where} has {array.shape[0]} row(s), fewer than the {min_rows} needed; {fix}"
        )
    finite = np.isfinite(array)
    if not finite.all():
        rows = int((~finite).reshape(len(array), -1).any(axis=1).sum())
        raise ValueError(f"{where} holds NaN/inf in {rows} row(s); {fix}")
    return array


# ------------------------------------------------------------------------ grids (sweep_masked)


def grid_size(per_cell: dict) -> int:
    """The number of cells of a grid from its per-cell arguments (``{name: values or None}``;
    1 when none is given): each a sequence of one entry per cell, all of one length, not empty."""
    lengths = {}
    for name, values in per_cell.items():
        if values is None:
            continue
        try:
            shape = np.shape(values)
        except ValueError:  # a ragged list
            shape = (None,)
        if len(shape) == 0 or shape[0] is None:
            raise ValueError(
                f"{name} must be one value per cell (a 1-d sequence; build the grid with "
                f"np.meshgrid(...) and ravel it), got {values!r}"
            )
        lengths[name] = shape[0]
    if len(set(lengths.values())) > 1:
        got = ", ".join(f"{name} has {n}" for name, n in lengths.items())
        raise ValueError(
            f"num_subnets, keep_prob, lr and node_scale need one entry per cell; got {got}"
        )
    size = next(iter(lengths.values()), 1)
    if size == 0:
        verb = "holds" if len(lengths) == 1 else "hold"
        raise ValueError(
            f"{' and '.join(lengths)} {verb} no cells; a grid needs at least one (or pass None "
            "for one cell of cfg's values)"
        )
    return size


def per_cell(name: str, values, num_cells: int, check) -> np.ndarray:
    """``values`` (one per cell) as a 1-D NumPy array, every entry passing the scalar check of
    its concept, ``check(name, value)`` — the same check a single run applies, so a grid accepts
    exactly what ``train_masked`` accepts. The message names the cell."""
    if isinstance(values, jax.core.Tracer):
        raise ValueError(
            f"{name} must be concrete (a list or NumPy array), not traced: the grid's values "
            "decide how its cells are grouped into compiled batches"
        )
    array = np.asarray(values)
    if array.shape != (num_cells,):
        raise ValueError(
            f"{name} must be one value per cell, shape ({num_cells},), got {array.shape}; "
            "build the grid with np.meshgrid(...) and ravel it"
        )
    for cell, value in enumerate(array.tolist()):
        try:
            check(name, value)
        except ValueError as err:
            raise ValueError(f"{err} (cell {cell} of the grid)") from None
    return array


def checkpointing(checkpoint, checkpoint_every, resume, *, traced: bool) -> int | None:
    """The ``checkpoint=`` / ``checkpoint_every=`` / ``resume=`` keywords of the trainers."""
    resume = boolean("resume", resume)
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

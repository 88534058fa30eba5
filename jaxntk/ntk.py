r"""Empirical and infinite-width NTKs (Neural Tangent Grams) of the shallow model w.r.t. W.

For f(x) = c sum_j s_j a_j relu(w_j . x) the derivative is
d f_c(x) / d w_j = c s_j a_jc 1[w_j . x > 0] x, so the empirical NTK is, exactly,

.. math::

    \Theta_{cc'}(x, x') = c^2 \, (x \cdot x') \sum_j s_j^2 a_{jc} a_{jc'}
                          1[w_j \cdot x > 0] \, 1[w_j \cdot x' > 0],

i.e. K = (X_1 X_2^T) ⊙ (D_1 diag(s² a_c a_c') D_2^T) with D = 1[X W^T > 0] — strict, matching
autodiff's relu'(0) = 0. That is the ``"closed_form"`` backend: O(n^2 m + n m d), no Jacobian.

Backends of ``empirical``:

* ``"closed_form"``: the formula above.
* ``"autodiff"``: per-example Jacobians (``vmap(jacrev)``) contracted; ``empirical_fn`` gives it
  for any ``apply_fn(params, x)``.
* ``"neural_tangents"``: ``neural_tangents.empirical_ntk_fn`` with ``implementation`` 1, 2 or 3,
  the reference the closed form is tested against. neural-tangents 0.6.5 is imported on first use
  (never at ``import jaxntk``) through ``import_neural_tangents``, which makes it work on current
  JAX without TensorFlow (``jaxntk._nt_compat``). Implementation 3 is refused with a
  NotImplementedError on a JAX where it does not work.
* ``"auto"`` (default): the closed form. It is exact for this model and ~1000x faster than any
  neural-tangents implementation (README, "Neural tangent kernels"); neural-tangents is the
  backend for other models (``import_neural_tangents().empirical_ntk_fn(apply_fn, ...)``).

Output axes follow ``neural_tangents.empirical_ntk_fn``: the model's output is (n, C), axis 0 the
batch and axis 1 (= -1) the outputs. Axes in ``trace_axes`` are **averaged** over their diagonal
(neural-tangents' "trace" is a mean), axes in ``diagonal_axes`` keep only their diagonal, the
others give a pair of axes. So ``trace_axes=(-1,)`` (default) gives (n1, n2), ``trace_axes=()``
(n1, n2, C, C), ``trace_axes=(), diagonal_axes=(-1,)`` (n1, n2, C).

Masked surrogates (Liao & Kyrillidis 2022, §3.1): with s = M / xi, E_M[Theta^M] = Theta / xi.
The infinite-width limit (arc-cosine kernel, Du et al. 2019; Caron et al. 2023 §2.1 "mean NTG"):
E_w[Theta(x, x')] = (x . x') (pi - arccos cos(x, x')) / (2 pi) per output, for "ntk"
parameterization and for any node scale with sum(lam) = 1 and c = 1.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp

from jaxntk import _validate
from jaxntk.model import PARAMETERIZATIONS, apply

BACKENDS = ("auto", "closed_form", "autodiff", "neural_tangents")
NT_IMPLEMENTATIONS = (1, 2, 3)

# --- output-axis conventions (shared by every backend) ------------------------------------------

_FIRST, _SECOND = ("i", "c"), ("j", "e")  # subscripts of (batch, output) for x1 and for x2


def _axes(value, name: str) -> frozenset[int]:
    axes = (value,) if isinstance(value, int) else tuple(value)
    for axis in axes:
        if isinstance(axis, bool) or not isinstance(axis, int) or not -2 <= axis <= 1:
            raise ValueError(
                f"{name} must hold axes of the (n, C) output: 0 / -2 (batch) or 1 / -1 "
                f"(outputs), got {value!r}"
            )
    return frozenset(axis % 2 for axis in axes)


def _modes(trace_axes, diagonal_axes) -> tuple[str, str]:
    """'trace' | 'diag' | 'full' for the batch axis and for the output axis."""
    traced, diagonal = _axes(trace_axes, "trace_axes"), _axes(diagonal_axes, "diagonal_axes")
    if traced & diagonal:
        raise ValueError(
            f"an axis cannot be in both trace_axes={trace_axes!r} and diagonal_axes="
            f"{diagonal_axes!r}; a traced axis is already reduced to its diagonal's mean"
        )
    return tuple("trace" if a in traced else "diag" if a in diagonal else "full" for a in (0, 1))


def _subscripts(modes) -> tuple[str, str, str]:
    """(x1 letters, x2 letters, output letters) for an einsum over (batch, output) axes."""
    first, second, out = "", "", ""
    for mode, a, b in zip(modes, _FIRST, _SECOND):
        first += a
        second += b if mode == "full" else a
        out += {"full": a + b, "diag": a, "trace": ""}[mode]
    return first, second, out


def _trace_normalizer(modes, n: int, num_outputs: int) -> int:
    """neural-tangents' trace is a mean: divide by the size of every traced axis."""
    return (n if modes[0] == "trace" else 1) * (num_outputs if modes[1] == "trace" else 1)


def _reduce_full(full, modes):
    """(n1, n2, C, C) kernel -> the requested traces and diagonals."""
    first, second, out = _subscripts(modes)
    reduced = jnp.einsum(f"{first[0]}{second[0]}{first[1]}{second[1]}->{out}", full)
    return reduced / _trace_normalizer(modes, full.shape[0], full.shape[2])


def _check_model(params, x1, x2, modes, node_scale):
    """The kernel's inputs on the shallow model: the network, x1 and x2 as (rows, in_dim) float
    matrices of its dtype, an optional (width,) node scale."""
    _validate.network(params)
    w = params["w"]
    _validate.float_matrix("x1", x1, dtype=w.dtype, ncols=w.shape[1])
    if x2 is not None:
        _validate.float_matrix("x2", x2, dtype=w.dtype, ncols=w.shape[1])
    if node_scale is not None:
        _validate.per_node("node_scale", node_scale, w.shape[0])
    _check_pair(x1, x2, modes)


def _check_pair(x1, x2, modes):
    if x2 is not None and x2.shape[-1] != x1.shape[-1]:
        raise ValueError(f"x1 and x2 must have the same features: {x1.shape} vs {x2.shape}")
    if modes[0] != "full" and x2 is not None and x2.shape[0] != x1.shape[0]:
        raise ValueError(
            "a batch axis in trace_axes/diagonal_axes pairs x1[i] with x2[i]: x1 and x2 need "
            f"the same number of rows, got {x1.shape[0]} and {x2.shape[0]}"
        )


# --- backends ------------------------------------------------------------------------------------


def closed_form(params, x1, x2=None, *, node_scale=None, trace_axes=(-1,), diagonal_axes=()):
    """The exact empirical NTK of the shallow model, without forming a Jacobian."""
    modes = _modes(trace_axes, diagonal_axes)
    _check_model(params, x1, x2, modes, node_scale)
    w, a = params["w"], params["a"]
    if params.get("in_scale") is not None:  # d f / d w_j carries the scaled input in_scale x
        x1 = x1 * params["in_scale"]
        x2 = None if x2 is None else x2 * params["in_scale"]
    x2_ = x1 if x2 is None else x2
    d1 = (x1 @ w.T > 0).astype(x1.dtype)  # (n1, m)
    d2 = d1 if x2 is None else (x2_ @ w.T > 0).astype(x1.dtype)
    s2 = jnp.ones(w.shape[0], a.dtype) if node_scale is None else node_scale**2
    if modes[1] == "full":
        out_weights = (s2[:, None, None] * a[:, :, None]) * a[:, None, :]  # (m, C, C)
        ws = "kce"
    else:  # only c = c' is needed: sum over (diag) or mean over (trace) of s^2 a_c^2
        out_weights = s2[:, None] * a**2  # (m, C)
        ws = "kc"
        if modes[1] == "trace":
            out_weights, ws = jnp.mean(out_weights, axis=1), "k"
    # Contract over the m nodes first (n1 n2 m |ws| flops), then one elementwise product with the
    # Gram matrix: letting einsum fold the Gram matrix into the node sum forms an n1 n2 m C
    # intermediate and is ~30x slower at the MNIST shape.
    out_letters = ws[1:]
    if modes[0] == "full":
        scaled = jnp.einsum(f"ik,{ws}->ik{out_letters}", d1, out_weights)
        inner = jnp.einsum(f"ik{out_letters},jk->ij{out_letters}", scaled, d2)
        gram = x1 @ x2_.T
    else:  # the batch axis pairs x1[i] with x2[i] only
        inner = jnp.einsum(f"ik,ik,{ws}->i{out_letters}", d1, d2, out_weights)
        gram = jnp.sum(x1 * x2_, axis=1)
    kernel = gram.reshape(gram.shape + (1,) * len(out_letters)) * inner
    if modes[0] == "trace":
        kernel = jnp.mean(kernel, axis=0)
    return params["out_scale"] ** 2 * kernel


def empirical_fn(apply_fn: Callable, *, trace_axes=(-1,), diagonal_axes=()) -> Callable:
    """The empirical NTK of any ``apply_fn(params, x) -> (n, C)`` by per-example Jacobians.

    Returns ``kernel_fn(params, x1, x2=None)`` (note: params first, unlike neural-tangents'
    ``(x1, x2, params)``), differentiating w.r.t. every leaf of ``params``.
    """
    modes = _modes(trace_axes, diagonal_axes)

    def per_example_jacobian(params, x):
        def output(p, xi):
            out = apply_fn(p, xi[None])
            if out.ndim != 2:
                raise ValueError(f"apply_fn must return (n, C) outputs, got shape {out.shape}")
            return out[0]

        def flat(xi):
            leaves = jax.tree_util.tree_leaves(jax.jacrev(output)(params, xi))
            return jnp.concatenate([leaf.reshape(leaf.shape[0], -1) for leaf in leaves], axis=1)

        return jax.vmap(flat)(x)  # (n, C, P)

    def kernel_fn(params, x1, x2=None):
        _check_pair(x1, x2, modes)
        jac1 = per_example_jacobian(params, x1)
        jac2 = jac1 if x2 is None else per_example_jacobian(params, x2)
        return _reduce_full(jnp.einsum("icp,jep->ijce", jac1, jac2), modes)

    return kernel_fn


NT_INSTALL = "pip install --no-deps neural-tangents==0.6.5 frozendict"


def import_neural_tangents():
    """neural_tangents 0.6.5, working on current JAX and without TensorFlow.

    Before the first import it provides the JAX names neural-tangents 0.6.5 looks for where JAX
    moved them (nothing on jax 0.4.23) and leaves out ``neural_tangents.experimental`` (the
    TensorFlow port); see ``jaxntk._nt_compat``. Then ``nt.empirical_ntk_fn``, ``nt.stax``,
    ``nt.linearize``, ``nt.predict``, ``nt.batch`` and ``nt.monte_carlo_kernel_fn`` work for any
    model. Install it with ``pip install --no-deps neural-tangents==0.6.5 frozendict``
    (without ``--no-deps`` pip pulls TensorFlow, ~2.5 GB, which nothing here needs).

    Returns:
      The ``neural_tangents`` module.

    Raises:
      ImportError: neural-tangents is not installed, or does not import on this JAX.
    """
    nt, error = _import_neural_tangents()
    if nt is None:
        raise ImportError(
            f"neural-tangents does not import here (jax {jax.__version__}): {error}. "
            f"Install it without TensorFlow: {NT_INSTALL}"
        )
    return nt


@functools.cache
def _import_neural_tangents():
    from jaxntk import _nt_compat

    try:
        return _nt_compat.import_neural_tangents(), None
    except Exception as err:  # ImportError where not installed; anything a newer JAX moved
        return None, f"{type(err).__name__}: {err}"


def neural_tangents_available() -> bool:
    """Whether neural-tangents imports here (through ``import_neural_tangents``; cached)."""
    return _import_neural_tangents()[0] is not None


def _check_implementation(implementation: int) -> None:
    from jaxntk import _nt_compat

    if implementation != 3:
        return
    problem = _nt_compat.structured_derivatives_problem()
    if problem is not None:
        checked = ", ".join(_nt_compat.STRUCTURED_DERIVATIVES_CHECKED)
        raise NotImplementedError(
            f"neural-tangents' implementation=3 (structured derivatives) does not work on jax "
            f"{jax.__version__} ({problem}); it was checked on jax {checked}. Use "
            "implementation=1 or 2 (the same kernel), or backend='closed_form'."
        )


def _model_fn(params, node_scale):
    def f(w, x):
        return apply({**params, "w": w}, x, node_scale=node_scale)

    return f


def empirical(
    params,
    x1,
    x2=None,
    *,
    node_scale=None,
    backend: str = "auto",
    trace_axes: int | Sequence[int] = (-1,),
    diagonal_axes: int | Sequence[int] = (),
    implementation: int = 1,
):
    """The empirical NTK of the shallow model w.r.t. its trained weights W.

    Args:
      params: from ``jaxntk.init_params``.
      x1: (n1, d) inputs.
      x2: (n2, d) inputs, or None for x1 (a symmetric kernel).
      node_scale: optional (width,) per-node scale s (masks / keep_prob, sqrt(lam)).
      backend: "auto" (= "closed_form"), "closed_form", "autodiff" or "neural_tangents"
        (module docstring).
      trace_axes, diagonal_axes: neural-tangents' output-axis conventions (module docstring).
      implementation: neural-tangents' implementation (1 Jacobian contraction, 2 NTK-vector
        products, 3 structured derivatives); used by that backend only.

    Returns:
      The kernel: (n1, n2) by default, (n1, n2, C, C) with ``trace_axes=()``.

    Raises:
      ImportError: backend="neural_tangents" where neural-tangents is not installed.
      NotImplementedError: implementation=3 on a JAX where it does not work (the message says
        where it does).
    """
    _validate.choice("backend", backend, BACKENDS)
    _check_model(params, x1, x2, _modes(trace_axes, diagonal_axes), node_scale)
    if implementation not in NT_IMPLEMENTATIONS:
        raise ValueError(f"implementation must be 1, 2 or 3, got {implementation!r}")
    if backend in ("auto", "closed_form"):
        return closed_form(
            params,
            x1,
            x2,
            node_scale=node_scale,
            trace_axes=trace_axes,
            diagonal_axes=diagonal_axes,
        )
    if backend == "autodiff":
        f = _model_fn(params, node_scale)
        kernel_fn = empirical_fn(f, trace_axes=trace_axes, diagonal_axes=diagonal_axes)
        return kernel_fn(params["w"], x1, x2)
    _check_pair(x1, x2, _modes(trace_axes, diagonal_axes))
    import_neural_tangents()
    _check_implementation(implementation)
    axes = (
        sorted(_axes(value, name))
        for value, name in ((trace_axes, "trace_axes"), (diagonal_axes, "diagonal_axes"))
    )
    return _nt_kernel_fn(implementation, *map(tuple, axes))(params, node_scale, x1, x2)


@functools.cache
def _nt_kernel_fn(implementation: int, trace_axes: tuple, diagonal_axes: tuple) -> Callable:
    """One jitted neural-tangents kernel per (implementation, axes): compiled once per shape.

    Run eagerly, neural-tangents compiles its many small operations one by one (~2-5 s for
    every new shape on a 2-core CPU); as one program ~0.3 s.
    """
    nt = import_neural_tangents()

    def kernel_fn(params, node_scale, x1, x2):
        fn = nt.empirical_ntk_fn(
            _model_fn(params, node_scale),
            trace_axes=trace_axes,
            diagonal_axes=diagonal_axes,
            vmap_axes=0,
            implementation=implementation,
        )
        return fn(x1, x2, params["w"])

    return jax.jit(kernel_fn)


def masked(params, x, masks, keep_prob, *, node_scale=None, backend="auto", **kernel_kwargs):
    """The NTKs of the K surrogates f_{M^l} (node scale ``node_scale * M^l / keep_prob``).

    Args:
      params: from ``jaxntk.init_params``.
      x: (n, d) inputs.
      masks: (K, width) masks, e.g. from ``jaxntk.masks``.
      keep_prob: xi of the 1/xi output scale (1/K for categorical masks).
      node_scale: optional (width,) base node scale.
      backend, **kernel_kwargs: as for ``empirical`` (trace_axes, diagonal_axes, implementation).

    Returns:
      ``(kernels, mean)``: (K, ...) the surrogate NTKs (vmapped over masks) and their mean over
      the K surrogates. E_M[Theta^M] = Theta / xi; for categorical masks the mean is exactly
      Theta / xi = K Theta.
    """
    _validate.network(params)
    width = params["w"].shape[0]
    if not hasattr(masks, "shape") or jnp.ndim(masks) != 2 or jnp.shape(masks)[1] != width:
        raise ValueError(
            f"masks must be a (K, width) = (K, {width}) array (jaxntk.masks.sample), got "
            f"{getattr(masks, 'shape', type(masks).__name__)}"
        )
    _validate.per_node("masks[0]", masks[0], width)
    _validate.finite_array("masks", masks)
    _validate.positive("keep_prob", keep_prob)
    base = jnp.ones(width, params["w"].dtype) if node_scale is None else node_scale

    def one(mask):
        scale = base * mask / keep_prob
        return empirical(params, x, node_scale=scale, backend=backend, **kernel_kwargs)

    kernels = jax.vmap(one)(masks)
    return kernels, jnp.mean(kernels, axis=0)


def infinite_width_relu(
    x1, x2=None, *, parameterization: str = "ntk", width: int | None = None, out_dim: int = 1
):
    r"""The infinite-width (arc-cosine) NTK w.r.t. W: the mean NTG, per output.

    Theta_inf(x, x') = scale * (x . x') (pi - arccos(cos(x, x'))) / (2 pi), where
    scale = 1 for "ntk" (any init_scale: the indicator's probability does not depend on it),
    scale = width / out_dim for "code" (its NTK grows linearly with the width), and, with node
    scales sqrt(lam), sum(lam) = 1 (Caron et al.'s mean NTG, independent of gamma), scale = 1 for
    "scaled" and 1/d for "asym_code" (its 1/sqrt(d) input layer). It is the limit of
    ``empirical(..., trace_axes=(-1,))``.
    Nearly parallel distinct points lose accuracy to arccos near 1 (an angle below ~sqrt(eps) is
    not resolved); the diagonal of a symmetric kernel (x2=None) is exact.

    Returns:
      (n1, n2) kernel.
    """
    _validate.choice("parameterization", parameterization, PARAMETERIZATIONS)
    if parameterization == "code":
        if width is None:
            raise ValueError("parameterization='code' scales the NTK by width/out_dim: pass width")
        scale = _validate.integer("width", width, minimum=1) / _validate.integer(
            "out_dim", out_dim, minimum=1
        )
    elif parameterization == "asym_code":
        scale = 1.0 / x1.shape[-1]
    else:
        scale = 1.0
    symmetric = x2 is None
    x2 = x1 if symmetric else x2
    gram = x1 @ x2.T
    norms = jnp.linalg.norm(x1, axis=1)[:, None] * jnp.linalg.norm(x2, axis=1)[None, :]
    cos = jnp.clip(gram / jnp.where(norms > 0, norms, 1), -1.0, 1.0)
    if symmetric:
        # arccos is ill-conditioned at 1: a rounding error eps in cos(x, x) becomes sqrt(2 eps) in
        # the angle (1e-8 in float64, 5e-4 in float32). The angle of x with itself is exactly 0.
        cos = jnp.where(jnp.eye(x1.shape[0], dtype=bool), 1.0, cos)
    return scale * gram * (jnp.pi - jnp.arccos(cos)) / (2 * jnp.pi)


def min_eig(kernel):
    """Smallest eigenvalue of a symmetric (..., n, n) kernel (batched over leading axes)."""
    sym = 0.5 * (kernel + jnp.swapaxes(kernel, -1, -2))
    return jnp.linalg.eigvalsh(sym)[..., 0]


def spectral_distance(kernel_t, kernel_0, *, symmetric: bool = False):
    """||Theta_t - Theta_0||_2, the spectral norm (largest singular value) of the difference.

    This is the norm itself; the official asymmetric-scaling code plots its square root under
    this label. ``symmetric=True`` (both kernels symmetric, e.g. on the same points) takes the
    largest |eigenvalue| instead of an SVD: the same number, cheaper. ``train_gd`` uses it — a
    vmapped program holding both an SVD and ``eigvalsh`` hung on jax 0.10.2's CPU backend with
    float32 under x64.
    """
    diff = kernel_t - kernel_0
    if symmetric:
        sym = 0.5 * (diff + jnp.swapaxes(diff, -1, -2))
        return jnp.max(jnp.abs(jnp.linalg.eigvalsh(sym)), axis=-1)
    return jnp.linalg.svd(diff, compute_uv=False)[..., 0]

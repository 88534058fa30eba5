"""neural-tangents 0.6.5 on current JAX, without TensorFlow: a small compatibility layer.

neural-tangents 0.6.5 (its newest release, 2023-12; upstream main fails the same way) imports
names that JAX has since moved (google/neural-tangents#209, #202), and its ``__init__`` imports
``neural_tangents.experimental``, the TensorFlow port, unconditionally. ``import_neural_tangents``
mends both, then imports it:

* every moved name is provided at its old address **only where it is missing** (on jax 0.4.23
  nothing is added): ``jax.core.{Jaxpr, JaxprEqn, Literal, Var, Primitive}`` from
  ``jax.extend.core``, ``jax.util.{safe_map, safe_zip}`` from ``jax._src.util``,
  ``jax.interpreters.ad.zeros_like_p`` from ``jax._src.ad_util`` (a dict key of the
  structured-derivative rules);
* ``neural_tangents.experimental`` is an empty module whose attributes raise an ImportError.

That makes implementations 1 (Jacobian contraction) and 2 (NTK-vector products) of
``empirical_ntk_fn``, ``empirical_kernel_fn``, ``stax``, ``linearize``, ``predict``, ``batch`` and
``monte_carlo_kernel_fn`` work. Implementation 3 (structured derivatives) and ``AUTO`` walk JAX's
private per-primitive transpose rules; where JAX changed the private calls they make (a new-style
``ad.linearize``; ``cost_analysis()`` a dict), neural-tangents functions are replaced:
``_get_primals_out_and_pullback`` by one on public ``jax.linearize`` + ``jax.make_jaxpr``,
``_get_flops`` by one that reads the dict, and ``_std_basis`` / ``_get_fx_axis_and_dtype`` (which
warn of deprecations) by the same code on ``.size`` / ``.dtype``; five attributes they read are
provided where missing. Current JAX keeps the transpose rules of slice, dynamic_slice, cond, scan,
jit, remat, custom_jvp and the call primitives in ``ad.fancy_transposes`` (operands to
differentiate are accumulators the rule adds into), which neural-tangents does not read:
``_eqn_vjp_fn`` is wrapped to call them in that convention, and to give any multiple-results rule
its cotangents as a list (a ``custom_vjp``'s ``custom_lin`` needs it). Three limits of
neural-tangents itself go with them: a primitive of several outputs (a cond returning a tuple, a
split) is split into one equation per output before the structured pass; one that no rule
separates is refused up front (``StructuredDerivativesUnsupported``, a ValueError naming
implementations 1 and 2; ``AUTO`` then chooses between those); ``_get_jacobian`` takes reverse
mode for a primitive without a JVP rule (``custom_lin``). On jax 0.4.23 none of this is applied.

``structured_derivatives_problem`` says whether implementation 3 works on the installed JAX
(checked versions, else a check against implementation 1), and ``jaxntk.ntk`` refuses
implementation 3 with an error where it does not.

Nothing here runs at ``import jaxntk``: the first ``import_neural_tangents`` applies the layer.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import sys
import types

import jax
import jax.extend.core
import jax.numpy as jnp

# JAX versions on which implementation 3 was checked against the closed form (the test suite).
STRUCTURED_DERIVATIVES_CHECKED = ("0.4.23", "0.10.2")

_MOVED = [  # (old module, name, module that holds it now)
    *[("jax.core", name, "jax.extend.core") for name in ("Jaxpr", "JaxprEqn", "Literal", "Var")],
    ("jax.core", "Primitive", "jax.extend.core"),
    ("jax.util", "safe_map", "jax._src.util"),
    ("jax.util", "safe_zip", "jax._src.util"),
    ("jax.interpreters.ad", "zeros_like_p", "jax._src.ad_util"),
]


def _module(name: str) -> types.ModuleType:
    """The module ``name``; ``jax.util`` (removed from JAX) is created empty where it is missing."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError:
        if name != "jax.util":
            raise
    sys.modules[name] = jax.util = types.ModuleType(name, "jaxntk: neural-tangents' jax.util")
    return jax.util


def _provide(module: object, name: str, value: object, added: list[str], where: str) -> None:
    if not hasattr(module, name):
        setattr(module, name, value)
        added.append(f"{where}.{name}")


def provide_moved_jax_names() -> list[str]:
    """Put each name neural-tangents imports where it looks for it, only where it is missing.

    Returns:
      The ``module.name`` addresses added (none on jax 0.4.23).
    """
    added: list[str] = []
    for old, name, new in _MOVED:
        module = _module(old)
        if not hasattr(module, name):
            _provide(module, name, getattr(importlib.import_module(new), name), added, old)
    return added


def _no_tf_port(name: str):
    if name.startswith("__") and name.endswith("__"):
        # module protocol lookups (__file__, __path__, ...): absent, as on any module, so tools
        # that walk sys.modules (hypothesis, pytest, inspect) are not told to install TensorFlow
        raise AttributeError(name)
    raise ImportError(
        f"neural_tangents.experimental.{name}: neural-tangents' TensorFlow port is left out by "
        "jaxntk.ntk.import_neural_tangents (it needs TensorFlow and jax2tf); the rest of "
        "neural_tangents works"
    )


def _stub_experimental() -> None:
    module = types.ModuleType("neural_tangents.experimental", "left out: the TensorFlow port")
    module.__getattr__ = _no_tf_port
    sys.modules.setdefault("neural_tangents.experimental", module)


def _new_style_linearize() -> bool:
    """ad.linearize(traceable, primals_ft, ...), not the (traceable, *primals) upstream calls."""
    from jax.interpreters import ad

    kinds = [p.kind for p in inspect.signature(ad.linearize).parameters.values()]
    return inspect.Parameter.VAR_POSITIONAL not in kinds


def _cost_analysis_is_dict() -> bool:
    return isinstance(jax.jit(jnp.sin).lower(1.0).compile().cost_analysis(), dict)


def _get_flops(f, optimize: bool, *a, **kw) -> float:
    """neural-tangents' ``_get_flops`` for a ``cost_analysis()`` that returns one dict."""
    try:
        lowered = jax.jit(f).lower(*a, **kw)
    except StructuredDerivativesUnsupported:  # AUTO: choose among implementations 1 and 2
        return float("inf")
    analysis = lowered.compile().cost_analysis() if optimize else lowered.cost_analysis()
    return analysis["flops"]


def _std_basis(pytree):
    """neural-tangents' ``_std_basis`` reading ``.size``/``.dtype`` (jnp.size of an abstract
    value and dtype=array are deprecated in current JAX)."""
    from neural_tangents._src import empirical

    leaves = jax.tree_util.tree_leaves(pytree)
    dtype = jax.dtypes.result_type(*(leaf.dtype for leaf in leaves))
    basis = jnp.eye(sum(leaf.size for leaf in leaves), dtype=dtype)
    return empirical._unravel_array_into_pytree(pytree, 1, basis)


def _get_fx_axis_and_dtype(fx, fx_axis, params):
    """neural-tangents' ``_get_fx_axis_and_dtype`` without the deprecated ``dtype=array``."""
    if fx_axis is None:
        fx_axis = jax.tree_util.tree_map(lambda x: None, fx)
    dtypes = [jnp.dtype(leaf.dtype) for leaf in jax.tree_util.tree_leaves(params)]
    return fx_axis, functools.reduce(jnp.promote_types, dtypes) if dtypes else None


class StructuredDerivativesUnsupported(ValueError):
    """A function whose linearization implementation 3 (structured derivatives) cannot walk."""


def _split_as_slice(eqn, i: int):
    """Output ``i`` of a ``split`` equation as a ``slice`` equation of its operand."""
    from jax._src.interpreters import partial_eval as pe

    axis, sizes = eqn.params["axis"], [int(size) for size in eqn.params["sizes"]]
    shape = eqn.invars[0].aval.shape
    start = [0] * len(shape)
    start[axis] = sum(sizes[:i])
    limit = list(shape)
    limit[axis] = start[axis] + sizes[i]
    params = dict(start_indices=tuple(start), limit_indices=tuple(limit), strides=None)
    return pe.new_jaxpr_eqn(
        eqn.invars,
        [eqn.outvars[i]],
        jax.lax.slice_p,
        params,
        eqn.effects,
        eqn.source_info,
        eqn.ctx,
    )


def _one_output_per_equation(jaxpr):
    """``jaxpr`` with each equation of several outputs split into one equation per output.

    neural-tangents' structured-derivatives pass takes one output per equation (it raises
    NotImplementedError otherwise). A ``cond`` (or any primitive with a dead-code rule) that
    returns k arrays becomes k copies, each pruned by JAX's own dead-code rule to one output and
    the operands it needs; a ``split`` becomes k slices. The Jacobian is unchanged: an output's
    dependence on an operand is the sum over the outputs' pieces, which is what the pass sums
    over equations. An equation that cannot be split (a scan or while whose carries depend on
    each other) is refused here, before any work, naming the implementations that work.
    """
    from jax._src.interpreters import partial_eval as pe

    jaxpr, _ = pe.dce_jaxpr(jaxpr, [True] * len(jaxpr.outvars), instantiate=True)
    eqns = []
    for eqn in jaxpr.eqns:
        if len(eqn.outvars) <= 1:
            eqns.append(eqn)
            continue
        live = [i for i, v in enumerate(eqn.outvars) if not isinstance(v, jax.extend.core.DropVar)]
        rule = pe.dce_rules.get(eqn.primitive)
        pieces = []
        for i in live:
            if eqn.primitive is jax.lax.split_p:
                piece = _split_as_slice(eqn, i)
            elif rule is not None:
                piece = rule([j == i for j in range(len(eqn.outvars))], eqn)[1]
            else:
                piece = None
            if piece is None or len(piece.outvars) != 1:
                raise StructuredDerivativesUnsupported(
                    f"neural-tangents' implementation 3 (structured derivatives) takes "
                    f"primitives of one output, and the linearized function holds "
                    f"'{eqn.primitive}' with {len(eqn.outvars)} outputs that do not separate; "
                    f"use implementation=1 (Jacobian contraction) or implementation=2 "
                    f"(NTK-vector products)"
                )
            pieces.append(piece)
        eqns += pieces
    return jaxpr.replace(eqns=eqns)


def _make_primals_out_and_pullback(empirical: types.ModuleType):
    """neural-tangents' ``_get_primals_out_and_pullback`` on public ``jax.linearize``."""
    from jax.interpreters import ad

    def primals_out_and_pullback(fn, mode, _j_rules, _s_rules, _fwd, *primals_in):
        flat_in, in_tree = jax.tree_util.tree_flatten(primals_in)

        def fn_flat(*flat):
            return fn(*jax.tree_util.tree_unflatten(in_tree, flat))

        # As upstream: no jit, so the linear jaxpr holds the primitives the rules know.
        with jax.disable_jit():
            primals_out, fn_lin = jax.linearize(fn_flat, *flat_in)
            closed = jax.make_jaxpr(fn_lin)(*flat_in)
        jaxpr = _one_output_per_equation(closed.jaxpr)

        def pullback_fn(*cts_in):
            cts_out = empirical._backward_pass(
                jaxpr,
                mode=mode,
                consts=closed.consts,
                primals_in=[ad.UndefinedPrimal(v.aval) for v in jaxpr.invars],
                cotangents_in=tuple(jax.tree_util.tree_leaves(cts_in)),
                _j_rules=_j_rules,
                _s_rules=_s_rules,
                _fwd=_fwd,
            )
            return jax.tree_util.tree_unflatten(in_tree, cts_out)

        return primals_out, pullback_fn

    return primals_out_and_pullback


def _make_eqn_vjp_fn(empirical: types.ModuleType):
    """neural-tangents' ``_eqn_vjp_fn`` that also reads JAX's "fancy" transpose rules.

    Current JAX keeps the transpose rules of slice, dynamic_slice, cond, scan, jit, remat,
    custom_jvp_call and the call primitives in ``ad.fancy_transposes`` only, not in the
    ``ad.primitive_transposes`` that neural-tangents reads. A fancy rule takes the cotangent(s)
    (a list for a multiple-results primitive) and the operands, where each operand to
    differentiate is an accumulator instead of an ``UndefinedPrimal``, and adds its cotangent
    into the accumulator instead of returning it. Here each ``UndefinedPrimal`` becomes a
    ``ValAccum`` of its cotangent type, and what the rule accumulated (a ``Zero`` where
    nothing) is returned in the old convention, ``None`` for operands not differentiated.
    Any rule of a multiple-results primitive takes its cotangents as a list, as JAX's backward
    pass gives them; neural-tangents (which allows one output) gives the one array.
    """
    from jax._src import source_info_util
    from jax._src.interpreters import ad as ad_src
    from jax.interpreters import ad

    original = empirical._eqn_vjp_fn

    def eqn_vjp_fn(eqn, cts_in, *invals):
        if (
            eqn is None
            or eqn.primitive in ad.primitive_transposes
            or eqn.primitive not in ad_src.fancy_transposes
        ):
            if (
                eqn is not None
                and eqn.primitive.multiple_results
                and not (eqn.primitive.call_primitive or eqn.primitive.map_primitive)
            ):
                cts_in = [cts_in]  # its rule takes a list (custom_lin of a custom_vjp)
            return original(eqn, cts_in, *invals)
        rule = ad_src.fancy_transposes[eqn.primitive]
        accums = [
            ad_src.ValAccum(x.aval.to_ct_aval()) if ad.is_undefined_primal(x) else x for x in invals
        ]
        cts = [cts_in] if eqn.primitive.multiple_results else cts_in
        name_stack = source_info_util.current_name_stack() + eqn.source_info.name_stack
        with source_info_util.user_context(eqn.source_info.traceback, name_stack=name_stack):
            rule(cts, *accums, **eqn.params)
        return [a.freeze() if isinstance(a, ad_src.ValAccum) else None for a in accums]

    return eqn_vjp_fn


def _make_get_jacobian(empirical: types.ModuleType):
    """neural-tangents' ``_get_jacobian`` in reverse mode for a primitive without a JVP rule.

    It picks forward mode where an equation has more outputs than inputs, through
    ``ad.primitive_jvps``; a ``custom_vjp`` function's linearization (``custom_lin``) has no
    JVP rule (JAX allows no forward mode through it), so there the reverse mode is used.
    """
    from jax.interpreters import ad

    original = empirical._get_jacobian

    def get_jacobian(eqn, cts_in, invals, idx, _j_rules, _fwd):
        if eqn is not None and eqn.primitive not in ad.primitive_jvps:
            _fwd = False
        return original(
            eqn=eqn, cts_in=cts_in, invals=invals, idx=idx, _j_rules=_j_rules, _fwd=_fwd
        )

    return get_jacobian


def _mend_structured_derivatives() -> list[str]:
    """Implementation 3 / AUTO on current JAX: only what the installed JAX has changed."""
    from jax._src import source_info_util
    from jax._src.interpreters import ad as ad_src
    from jax.interpreters import ad
    from neural_tangents._src import empirical

    added: list[str] = []
    _provide(ad, "source_info_util", source_info_util, added, "jax.interpreters.ad")
    _provide(ad, "config", jax.config, added, "jax.interpreters.ad")
    _provide(ad, "reducing_transposes", ad_src.reducing_transposes, added, "jax.interpreters.ad")
    # Dynamic shapes are gone: no value is of this type, as no value was of the old one here.
    _provide(jax.core, "DShapedArray", type("DShapedArray", (), {}), added, "jax.core")
    _provide(jax.core.Primitive, "map_primitive", False, added, "jax.core.Primitive")
    if _new_style_linearize():  # current JAX, where the other two warn of deprecations too
        empirical._get_primals_out_and_pullback = _make_primals_out_and_pullback(empirical)
        empirical._std_basis = _std_basis
        empirical._get_fx_axis_and_dtype = _get_fx_axis_and_dtype
        added += [
            f"neural_tangents._src.empirical.{name}"
            for name in ("_get_primals_out_and_pullback", "_std_basis", "_get_fx_axis_and_dtype")
        ]
    if hasattr(ad_src, "fancy_transposes"):  # JAX moved rules there; NT reads the old dict
        empirical._eqn_vjp_fn = _make_eqn_vjp_fn(empirical)
        empirical._get_jacobian = _make_get_jacobian(empirical)
        added += [f"neural_tangents._src.empirical.{n}" for n in ("_eqn_vjp_fn", "_get_jacobian")]
    if _cost_analysis_is_dict():
        empirical._get_flops = _get_flops
        added.append("neural_tangents._src.empirical._get_flops")
    return added


@functools.cache
def import_neural_tangents() -> types.ModuleType:
    """neural_tangents, importable on current JAX and without TensorFlow (module docstring)."""
    if "neural_tangents" not in sys.modules:
        provide_moved_jax_names()
        _stub_experimental()
    nt = importlib.import_module("neural_tangents")
    _mend_structured_derivatives()
    return nt


@functools.cache
def structured_derivatives_problem() -> str | None:
    """None where implementation 3 is known to work on the installed JAX, else what goes wrong.

    On the JAX versions in ``STRUCTURED_DERIVATIVES_CHECKED`` (where the test suite compares it
    with the closed form) it is None; elsewhere ``check_structured_derivatives`` decides, once.
    """
    if jax.__version__ in STRUCTURED_DERIVATIVES_CHECKED:
        return None
    return check_structured_derivatives()


def check_structured_derivatives() -> str | None:
    """Implementation 3 against implementation 1 on a shallow ReLU network (~2 s, compiles).

    Its primitives are those of ``jaxntk.apply``. Works when first called under a jit or vmap
    trace too.

    Returns:
      None where they agree to 1e-5 (float32), else the exception or the relative difference.
    """
    nt = import_neural_tangents()
    with jax.ensure_compile_time_eval():  # concrete numbers even when first asked under a trace
        try:
            kernels = _shallow_relu_kernels(nt, (1, 3))
        except Exception as err:  # a private JAX rule that neural-tangents calls has changed
            return f"{type(err).__name__}: {err}"
        err = float(jnp.max(jnp.abs(kernels[1] - kernels[0])) / jnp.max(jnp.abs(kernels[0])))
    return None if err < 1e-5 else f"it differs from implementation 1 by {err:.2g} (relative)"


def _shallow_relu_kernels(nt, implementations):
    # fixed, irregular numbers (no random draw: compiling one costs more than the check)
    w, a, x = (
        jnp.sin(jnp.arange(n, dtype=jnp.float32) * 1.7).reshape(shape)
        for n, shape in ((24, (8, 3)), (16, (8, 2)), (12, (4, 3)))
    )

    def f(w, x):
        return 0.5 * jax.nn.relu(x @ w.T) @ a

    return [
        jax.jit(nt.empirical_ntk_fn(f, trace_axes=(), implementation=i))(x, None, w)
        for i in implementations
    ]

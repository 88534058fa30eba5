"""A faster-compiling, bit-identical lowering of JAX's threefry PRNG on CPU (opt-in).

JAX lowers its ``threefry2x32`` primitive (every ``jax.random`` draw, split and fold_in) with the
20 rounds unrolled on GPU/TPU, but on CPU as a rolled ``fori_loop`` of 5 steps, a choice made for
older XLA. On jax 0.10's CPU backend the rolled loop (a ``while`` with its own fusions) is what
makes a draw slow to compile: 0.5-1 s per new shape, 2-3x more than the unrolled program, and the
test suite compiles ~5000 programs (docs/testing.md). Both lowerings are the same function of the
same integers (JAX's ``_threefry2x32_lowering`` with ``use_rolled_loops`` False or True), so the
bits are identical; ``tests/test_threefry_cpu.py`` checks that against JAX's own CPU lowering and
the Random123 known-answer vectors.

This touches a private JAX registry, so it is never done on import: ``unroll_on_cpu()`` is called
by the test suite (``tests/conftest.py``) and by the experiment command line (``experiments/_cli``),
where the JAX internals it needs are missing it changes nothing and returns False.
"""

import functools
import importlib

_MODULES = ("jax._src.random.threefry2x32", "jax._src.prng")  # jax >= 0.5; jax 0.4.x


def _threefry_module():
    """JAX's module holding ``threefry2x32_p`` and ``_threefry2x32_lowering``, or None."""
    for name in _MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        if hasattr(module, "threefry2x32_p") and hasattr(module, "_threefry2x32_lowering"):
            return module
    return None


def unroll_on_cpu(unrolled: bool = True) -> bool:
    """Lower threefry on CPU with its rounds unrolled (``unrolled=False``: JAX's rolled loop).

    Affects programs lowered after the call (compiled programs are cached as they are). Returns
    whether the lowering was registered: False where this JAX lacks the internals used here.
    """
    module = _threefry_module()
    if module is None:
        return False
    from jax._src.interpreters import mlir

    rule = mlir.lower_fun(
        functools.partial(module._threefry2x32_lowering, use_rolled_loops=not unrolled),
        multiple_results=True,
    )
    mlir.register_lowering(module.threefry2x32_p, rule, platform="cpu")
    return True

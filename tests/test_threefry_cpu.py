"""The unrolled threefry lowering (used by the suite and the command line) gives JAX's own bits.

``conftest.py`` registers it for the whole suite, so every other test already runs on it; here
each draw is compiled under both lowerings (new functions each time, so no compiled program is
reused) and compared bit for bit, and the primitive is checked against the Random123
known-answer vectors, an implementation independent of JAX's.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxntk import _threefry_cpu

if _threefry_cpu._threefry_module() is None:  # a future JAX without these internals
    pytest.skip("this JAX has no threefry2x32_p/_threefry2x32_lowering", allow_module_level=True)

DRAWS = {
    "bits": lambda k: jax.random.bits(k, (3, 1001)),
    "normal f64": lambda k: jax.random.normal(k, (37, 54), jnp.float64),
    "normal f32 under vmap": lambda k: jax.vmap(
        lambda kk: jax.random.normal(kk, (5, 7), jnp.float32)
    )(jax.random.split(k, 4)),
    "bernoulli": lambda k: jax.random.bernoulli(k, 0.3, (6, 64)),
    "rademacher": lambda k: jax.random.rademacher(k, (17,), jnp.float32),
    "split and fold_in": lambda k: jax.random.key_data(
        jax.random.fold_in(jax.random.split(k, 5)[3], 7)
    ),
}


def _compiled(unrolled: bool, name: str):
    """(outputs, optimized HLO) of DRAWS[name] lowered with the given rule."""
    assert _threefry_cpu.unroll_on_cpu(unrolled)
    try:
        fn = jax.jit(lambda k: DRAWS[name](k))  # a new function: nothing cached is reused
        compiled = fn.lower(jax.random.key(42)).compile()
        return np.asarray(compiled(jax.random.key(42))), compiled.as_text()
    finally:
        _threefry_cpu.unroll_on_cpu(True)  # the suite's setting


@pytest.mark.parametrize("name", DRAWS)
def test_unrolled_draws_are_bitwise_jaxs_rolled_draws(name):
    rolled, rolled_hlo = _compiled(False, name)
    unrolled, unrolled_hlo = _compiled(True, name)
    # The two really are different programs: JAX's CPU rule loops, the unrolled one does not.
    assert "while" in rolled_hlo and "while" not in unrolled_hlo
    assert rolled.dtype == unrolled.dtype and rolled.shape == unrolled.shape
    np.testing.assert_array_equal(rolled, unrolled)


# Random123's known-answer vectors for threefry2x32 with 20 rounds: (key, counter) -> output.
KNOWN = [
    ((0x00000000, 0x00000000), (0x00000000, 0x00000000), (0x6B200159, 0x99BA4EFE)),
    ((0xFFFFFFFF, 0xFFFFFFFF), (0xFFFFFFFF, 0xFFFFFFFF), (0x1CB996FC, 0xBB002BE7)),
    ((0x13198A2E, 0x03707344), (0x243F6A88, 0x85A308D3), (0xC4923A9C, 0x483DF7A0)),
]


@pytest.mark.parametrize("unrolled", [True, False])
def test_primitive_matches_random123_known_answers(unrolled):
    module = _threefry_cpu._threefry_module()
    assert _threefry_cpu.unroll_on_cpu(unrolled)
    try:
        key = jnp.asarray([k for k, _, _ in KNOWN], jnp.uint32)  # (3, 2)
        count = jnp.asarray([c for _, c, _ in KNOWN], jnp.uint32)
        out = jax.jit(jax.vmap(lambda k, c: module.threefry_2x32(k, c)))(key, count)
    finally:
        _threefry_cpu.unroll_on_cpu(True)
    np.testing.assert_array_equal(np.asarray(out), np.asarray([o for _, _, o in KNOWN], np.uint32))

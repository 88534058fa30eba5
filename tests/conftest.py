"""Suite-wide settings: float64 available, rank promotion is an error (as in neural-tangents).

``JAXNTK_REQUIRE_NT=1`` (set by ``make test`` in both environments) turns the skip of tests that
need neural-tangents into a failure, so a missing neural-tangents cannot pass silently.
"""

import os

import jax
import pytest

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_rank_promotion", "raise")

REQUIRE_NT = os.environ.get("JAXNTK_REQUIRE_NT", "0") == "1"


@pytest.fixture
def key():
    return jax.random.key(0)


@pytest.fixture(scope="session")
def nt():
    """neural_tangents via jaxntk.ntk.import_neural_tangents; skip where missing, or fail."""
    from jaxntk import ntk

    try:
        return ntk.import_neural_tangents()
    except ImportError as err:
        if REQUIRE_NT:
            pytest.fail(f"{err} (JAXNTK_REQUIRE_NT=1: make venv / make venv-nt install it)")
        pytest.skip(str(err))

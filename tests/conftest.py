"""Suite-wide settings: float64 available, rank promotion is an error (as in neural-tangents).

``JAXNTK_REQUIRE_NT=1`` (set by ``make test`` in the nt environment) turns the skip of tests that
need neural-tangents into a failure, so a broken nt environment cannot pass silently.
"""

import importlib
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
    """The neural_tangents module; skip where it cannot import, fail if it is required."""
    try:
        return importlib.import_module("neural_tangents")
    except Exception as err:  # ImportError on current JAX, AttributeError on partial installs
        message = f"neural-tangents does not import here ({type(err).__name__}: {err})"
        if REQUIRE_NT:
            pytest.fail(message + " but JAXNTK_REQUIRE_NT=1 says this is the nt environment")
        pytest.skip(message + "; it runs in the nt environment (make test-nt)")

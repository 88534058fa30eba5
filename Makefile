# Set-up and entry points. `make demo` and `make test` each build the virtual environment(s)
# they need when missing (or when pyproject.toml / constraints-nt.txt changed).
#   .venv     default: the newest jax/flax/optax/numpy the registry serves
#   .venv-nt  nt: jax 0.4.23 + neural-tangents 0.6.5, pinned by constraints-nt.txt
PYTHON ?= python3
VENV ?= .venv
VENV_NT ?= .venv-nt
PIP_FLAGS ?= --quiet --disable-pip-version-check
PYTEST_FLAGS ?= -q

.PHONY: all demo test test-default test-nt bench venv venv-nt clean

all: test

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install $(PIP_FLAGS) --upgrade -e '.[test]'
	@$(VENV)/bin/python -c "import jax, flax, optax, numpy; print('default env: jax', jax.__version__, 'flax', flax.__version__, 'optax', optax.__version__, 'numpy', numpy.__version__)"
	touch $@

$(VENV_NT)/.installed: pyproject.toml constraints-nt.txt
	$(PYTHON) -m venv $(VENV_NT)
	$(VENV_NT)/bin/pip install $(PIP_FLAGS) -c constraints-nt.txt -e '.[test,nt]'
	@$(VENV_NT)/bin/python -c "import jax, flax, optax, numpy; print('nt env: jax', jax.__version__, 'flax', flax.__version__, 'optax', optax.__version__, 'numpy', numpy.__version__)"
	touch $@

venv: $(VENV)/.installed
venv-nt: $(VENV_NT)/.installed

# The main job (for now): a short masked-training demo; prints the loss per round, writes a PNG.
demo: $(VENV)/.installed
	$(VENV)/bin/python -m experiments.masked_demo --outdir results/masked_demo

# The whole suite, in both environments. JAXNTK_REQUIRE_NT=1 turns every "neural-tangents
# is not importable" skip into a failure in the nt environment.
test: test-default test-nt

test-default: $(VENV)/.installed
	JAXNTK_REQUIRE_NT=0 $(VENV)/bin/python -m pytest $(PYTEST_FLAGS)

test-nt: $(VENV_NT)/.installed
	JAXNTK_REQUIRE_NT=1 $(VENV_NT)/bin/python -m pytest $(PYTEST_FLAGS)

# Benchmarks (not tests): timings go here, never into the suite.
bench: $(VENV)/.installed $(VENV_NT)/.installed
	$(VENV)/bin/python -m benchmarks.ntk_backends
	$(VENV_NT)/bin/python -m benchmarks.ntk_backends

clean:
	rm -rf $(VENV) $(VENV_NT) results .pytest_cache

# Set-up and entry points. `make demo` and `make test` each build the virtual environment(s)
# they need when missing (or when pyproject.toml / constraints-nt.txt changed).
#   .venv     default: the newest jax/flax/optax/numpy the registry serves
#   .venv-nt  nt: jax 0.4.23 + neural-tangents 0.6.5, pinned by constraints-nt.txt
PYTHON ?= python3
VENV ?= .venv
VENV_NT ?= .venv-nt
PIP_FLAGS ?= --quiet --disable-pip-version-check
# pytest-xdist, one worker per core: the default suite took 7.8 instead of 11.5 min on 2 cores.
PYTEST_FLAGS ?= -q -n auto
# neural-tangents 0.6.5 without TensorFlow: its metadata pulls tensorflow + tf2jax (2.5 GB), which
# only neural_tangents.experimental (the TF port, left out by jaxntk.ntk.import_neural_tangents)
# imports. Its real imports otherwise: jax, numpy, scipy, frozendict.
NT_INSTALL = --no-deps neural-tangents==0.6.5 frozendict

.PHONY: all demo reproduce data test test-default test-nt test-nt-own bench bench-official venv venv-nt clean

# Offline data: Fashion-MNIST from Debian's package dataset-fashion-mnist, unpacked into the
# user cache (no root: apt-get download + dpkg -x). Best effort: without apt it warns, and the
# one test that needs these files skips saying so.
DATA_DIR ?= $(if $(JAXNTK_DATA),$(JAXNTK_DATA),$(if $(XDG_CACHE_HOME),$(XDG_CACHE_HOME),$(HOME)/.cache)/jaxntk)
FASHION := $(DATA_DIR)/fashion-mnist/train-images-idx3-ubyte.gz

all: test

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install $(PIP_FLAGS) --upgrade -e '.[test]'
	$(VENV)/bin/pip install $(PIP_FLAGS) $(NT_INSTALL)
	@$(VENV)/bin/python -c "import jax, flax, optax, numpy; print('default env: jax', jax.__version__, 'flax', flax.__version__, 'optax', optax.__version__, 'numpy', numpy.__version__)"
	touch $@

$(VENV_NT)/.installed: pyproject.toml constraints-nt.txt
	$(PYTHON) -m venv $(VENV_NT)
	$(VENV_NT)/bin/pip install $(PIP_FLAGS) -c constraints-nt.txt -e '.[test]'
	$(VENV_NT)/bin/pip install $(PIP_FLAGS) -c constraints-nt.txt $(NT_INSTALL)
	@$(VENV_NT)/bin/python -c "import jax, flax, optax, numpy; print('nt env: jax', jax.__version__, 'flax', flax.__version__, 'optax', optax.__version__, 'numpy', numpy.__version__)"
	touch $@

venv: $(VENV)/.installed
venv-nt: $(VENV_NT)/.installed

# The main job: every experiment at the quick preset on the offline data; writes
# results/report.md and results/report.html (<= 20 min on a 2-core CPU).
reproduce: $(VENV)/.installed data
	$(VENV)/bin/jaxntk reproduce --preset quick --out results/

# A short masked-training demo; prints the loss per round, writes a PNG.
demo: $(VENV)/.installed
	$(VENV)/bin/python -m experiments.masked_demo --outdir results/masked_demo

data: $(FASHION)

$(FASHION):
	@mkdir -p "$(DATA_DIR)/fashion-mnist"
	@tmp=$$(mktemp -d); \
	if (cd $$tmp && apt-get download dataset-fashion-mnist >/dev/null 2>&1 \
	    && dpkg -x dataset-fashion-mnist_*.deb x); then \
	  cp $$tmp/x/usr/share/datasets/fashion-mnist/*.gz "$(DATA_DIR)/fashion-mnist/" \
	  && echo "Fashion-MNIST (Debian dataset-fashion-mnist) -> $(DATA_DIR)/fashion-mnist"; \
	else \
	  echo "warning: could not fetch Debian's dataset-fashion-mnist (no apt-get/dpkg?);" \
	       "Fashion-MNIST stays unavailable and its test is skipped"; \
	fi; rm -rf $$tmp

# The whole suite, in both environments. JAXNTK_REQUIRE_NT=1 turns every "neural-tangents
# is not importable" skip into a failure: both environments run every neural-tangents check.
test: test-default test-nt

test-default: $(VENV)/.installed data
	JAXNTK_REQUIRE_NT=1 $(VENV)/bin/python -m pytest $(PYTEST_FLAGS)

# The nt environment checks the library (and every kernel against unpatched neural-tangents) on
# old JAX; the experiment scripts, notebooks and report run once, in the default environment.
test-nt: $(VENV_NT)/.installed data
	JAXNTK_REQUIRE_NT=1 $(VENV_NT)/bin/python -m pytest $(PYTEST_FLAGS) -m "not experiments"

# neural-tangents' own installed tests (empirical, stax) in the default environment, through
# jaxntk's compatibility layer, at more sampled cases than its CI (4): StructuredDerivativesTest
# at 40, the rest at 8 (docs/testing.md). Not part of `make test`.
NT_OWN_FLAGS ?= --cases 8 --structured-cases 40
test-nt-own: $(VENV)/.installed
	$(VENV)/bin/python tools/nt_own_tests.py $(NT_OWN_FLAGS)

# Benchmarks (not tests): timings go here, never into the suite.
# The tables of docs/performance.md come from these; never part of `make test`.
bench: $(VENV)/.installed $(VENV_NT)/.installed
	$(VENV)/bin/python -m benchmarks.speed
	$(VENV_NT)/bin/python -m benchmarks.speed --only ntg --out benchmarks/results/cpu_nt.json
	$(VENV)/bin/python -m benchmarks.ntk_backends
	$(VENV_NT)/bin/python -m benchmarks.ntk_backends

# The same workloads against the official TensorFlow / PyTorch code, alternating in one run on
# this machine (benchmarks/results/official_cpu.json). Needs clones of both official repositories
# in REPOS (without them it prints the git clone lines); builds cached venvs for them on first use.
REPOS ?= ../official-repos
bench-official: $(VENV)/.installed
	$(VENV)/bin/python -m benchmarks.official --repos $(REPOS)

clean:
	rm -rf $(VENV) $(VENV_NT) results .pytest_cache

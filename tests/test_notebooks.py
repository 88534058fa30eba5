"""The Colab quick-start notebooks run top to bottom at smoke size (nbclient).

Each notebook runs in a fresh kernel of *this* interpreter: a kernelspec written under
``tmp_path`` points at ``sys.executable``, so the test never depends on which "python3" kernel
happens to be registered. The kernel runs with ``JAX_NUMPY_RANK_PROMOTION=raise`` like the rest of
the suite, but in float32, as a user's notebook does (x64 is the suite's setting, not the
notebooks'). The committed files must carry no outputs and must run at ``preset = "smoke"``.
"""

import json
import os
import sys
import time
from pathlib import Path

import pytest

NEEDS = "nbclient, nbformat and ipykernel (the test extra: pip install -e '.[test]')"
nbformat = pytest.importorskip("nbformat", reason=f"notebook tests need {NEEDS}")
nbclient = pytest.importorskip("nbclient", reason=f"notebook tests need {NEEDS}")
pytest.importorskip("ipykernel", reason=f"notebook tests need {NEEDS}")
from jupyter_client.kernelspec import KernelSpecManager  # noqa: E402  (installed with nbclient)
from jupyter_client.manager import KernelManager  # noqa: E402

# Scripts, notebooks and the report use only the public API that the rest of the suite checks
# in both environments; they run in the default environment only (see the Makefile).
pytestmark = pytest.mark.experiments

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ["masked_quickstart", "asymmetric_quickstart"]
KERNEL = "jaxntk-test"
MAX_SECONDS = 120  # per notebook, kernel start included (~20 s measured on a 2-core CPU)


@pytest.fixture
def kernel_manager(tmp_path):
    """A KernelManager for a kernelspec that runs ``sys.executable -m ipykernel_launcher``."""
    spec_dir = tmp_path / "kernels" / KERNEL
    spec_dir.mkdir(parents=True)
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    spec = {
        # The suite's threefry lowering (conftest.py): the same bits, faster to compile.
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}",
                 "--IPKernelApp.exec_lines=['from jaxntk import _threefry_cpu',"
                 " '_threefry_cpu.unroll_on_cpu()']"],  # fmt: skip
        "display_name": f"jaxntk test ({sys.executable})",
        "language": "python",
        "env": {"JAX_NUMPY_RANK_PROMOTION": "raise", "PYTHONPATH": path},
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    specs = KernelSpecManager(kernel_dirs=[str(tmp_path / "kernels")])
    assert specs.get_kernel_spec(KERNEL).argv[0] == sys.executable
    return KernelManager(kernel_name=KERNEL, kernel_spec_manager=specs)


def _read(name: str):
    return nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_committed_notebook_is_clean_and_colab_ready(name):
    nb = _read(name)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), "clear the outputs"
    install = code[0].source
    assert "import jaxntk" in install and "except ImportError:" in install
    assert "%pip install" in install.split("except ImportError:")[1]  # only when the import fails
    params = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1 and 'preset = "smoke"' in params[0].source


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs(name, kernel_manager):
    nb = _read(name)
    client = nbclient.NotebookClient(
        nb,
        km=kernel_manager,
        timeout=MAX_SECONDS,
        resources={"metadata": {"path": str(ROOT)}},  # the kernel's working directory
    )
    start = time.perf_counter()
    client.execute()  # raises CellExecutionError, with the cell's traceback, if a cell fails
    seconds = time.perf_counter() - start
    assert seconds < MAX_SECONDS
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    figures = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(figures) >= 3, "the notebook shows its figures (API part and experiment)"
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "| jaxntk " in text and "Config(" in text  # the imports and the experiment cell ran

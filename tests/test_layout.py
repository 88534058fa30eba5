"""The mesh axes by name (jaxntk.layout) and the one-process meaning of jaxntk.distributed; the
two-process behaviour is tests/test_processes.py."""

import jax
import numpy as np
import pytest

from jaxntk import distributed, layout


def mesh_of(*names):
    devices = np.array(jax.devices()[:1]).reshape((1,) * len(names))
    return jax.sharding.Mesh(devices, names)


def test_each_axis_is_found_by_name():
    assert (layout.runs_axis(None), layout.surrogates_axis(None)) == (None, None)
    assert (layout.runs_axis(mesh_of("runs")), layout.surrogates_axis(mesh_of("runs"))) == (
        "runs",
        None,
    )
    both = mesh_of("runs", "surrogates")
    assert (layout.runs_axis(both), layout.surrogates_axis(both)) == ("runs", "surrogates")
    # a one-axis mesh of another name keeps its older meaning: the surrogates
    assert (layout.runs_axis(mesh_of("d")), layout.surrogates_axis(mesh_of("d"))) == (None, "d")


def test_mesh_spec_parses_and_refuses_with_the_form():
    assert layout.parse("runs=2,surrogates=3") == {"runs": 2, "surrogates": 3}
    assert layout.parse(" surrogates=4 ") == {"surrogates": 4}
    for bad in ("runs", "runs=x", "devices=2", "runs=2,runs=2", "runs=-1", ""):
        with pytest.raises(ValueError, match="runs=R,surrogates=S"):
            layout.parse(bad)
    with pytest.raises(ValueError, match="must be >= 1"):
        layout.parse("runs=0")


def test_make_fits_the_device_count():
    count = jax.device_count()
    assert (layout.make() is None) == (count == 1)  # one device: the single-device programs
    mesh = layout.make(f"runs={count}")
    assert mesh.axis_names == ("runs",) and mesh.shape["runs"] == count
    with pytest.raises(ValueError, match=f"but there are {count}"):
        layout.make(f"runs={count + 1}")


def test_initialize_checks_its_flags_before_joining():
    with pytest.raises(ValueError, match="missing --num_processes, --process_id"):
        distributed.initialize("localhost:1234")
    with pytest.raises(ValueError, match="HOST:PORT"):
        distributed.initialize("localhost", 2, 0)
    with pytest.raises(ValueError, match=r"lie in \[0, 2\)"):
        distributed.initialize("localhost:1234", 2, 2)
    with pytest.raises(ValueError, match=">= 1"):
        distributed.initialize("localhost:1234", 0, 0)


def test_one_process_is_the_identity(monkeypatch):
    for name in distributed._CLUSTER_SIZE:
        monkeypatch.delenv(name, raising=False)
    assert distributed.initialize() is False  # no flags, no cluster: nothing to join
    x = jax.numpy.arange(3.0)
    assert distributed.check_same("f", x=x, y=None) is None
    assert distributed.on_writer(lambda: 7) == 7
    assert distributed.whole({"x": x})["x"] is x
    with pytest.raises(KeyError):  # an error of process 0's I/O is raised as itself
        distributed.on_writer(lambda: {}["missing"])


def test_digest_tells_inputs_apart():
    a = np.arange(4.0, dtype=np.float32)
    assert distributed._digest({"x": a}) == distributed._digest({"x": a.copy()})
    for other in ({"x": a + 1}, {"x": a.astype(np.float64)}, {"y": a}, {"x": a[:3]}):
        assert distributed._digest(other) != distributed._digest({"x": a})
    keys = jax.random.split(jax.random.key(0))
    assert distributed._digest(keys[0]) != distributed._digest(keys[1])

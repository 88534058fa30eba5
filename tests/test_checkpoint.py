"""jaxntk.checkpoint: exact, byte-reproducible .npz round trips, refusals, atomic writes.

Resume through the trainers (bitwise equal to uninterrupted runs) is in test_reliability.py.
"""

import numpy as np
import pytest
from test_reliability import same

from jaxntk import checkpoint


def test_checkpoint_round_trip_is_exact_and_bytes_are_reproducible(tmp_path):
    # Keys holding "/" and "%" (asym_regression's results are keyed "concrete/step") round-trip.
    tree = {
        "w": np.arange(6.0).reshape(2, 3),
        "history": {"loss": np.float32([1, 2]), "concrete/step": np.int32([0, 5]), "a%2F": 1.0},
    }
    meta = {"config": {"lr": 0.1, "shape": (2, 3)}, "step": 4}
    checkpoint.save(tmp_path / "a.npz", tree, meta)
    checkpoint.save(tmp_path / "b.npz", tree, meta)
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    loaded, got = checkpoint.load(tmp_path / "a.npz", {"config": meta["config"]})
    assert same(loaded, tree) and loaded["history"]["loss"].dtype == np.float32
    assert got["step"] == 4 and got["format"] == checkpoint.FORMAT_VERSION
    assert [p.name for p in tmp_path.iterdir()] != [] and not list(tmp_path.glob(".*tmp"))


def test_corrupt_or_foreign_checkpoints_are_refused(tmp_path):
    path = tmp_path / "c.npz"
    checkpoint.save(path, {"w": np.ones(100)}, {"config": {"lr": 0.1}})
    with pytest.raises(checkpoint.CheckpointError, match="field config.lr: 0.1 .* vs 0.2 now"):
        checkpoint.load(path, {"config": {"lr": 0.2}})
    path.write_bytes(path.read_bytes()[:300])  # truncated mid-write (what atomic writes prevent)
    with pytest.raises(checkpoint.CheckpointError, match="corrupt or truncated.*delete"):
        checkpoint.load(path)


def test_a_failed_atomic_write_leaves_the_old_file(tmp_path):
    path = tmp_path / "results.json"
    checkpoint.atomic_write_text(path, "old")
    with pytest.raises(RuntimeError), checkpoint.atomic_path(path) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed mid-write")
    assert path.read_text() == "old" and sorted(tmp_path.iterdir()) == [path]

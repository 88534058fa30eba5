"""CIFAR-10/100 "python" batches (read without trusting pickle) and precomputed feature files.

Both papers train on features of a pretrained network, not on pixels: the masked-neurons paper on
2048-d ResNet50 embeddings of the 10,000 CIFAR-10 test images with the fine-tuned head's 10 logits
as targets; the asymmetric-scaling paper on 512-d ImageNet ResNet-18 features with the labels.
No pretrained weights can be fetched here, so ``load_features`` reads a file you make elsewhere,
an ``.npz`` (read with ``allow_pickle=False``) holding

* ``features`` (n, d) float and ``labels`` — (n,) integers (classification, one-hot targets) or
  (n, C) floats (regression targets, e.g. the masked paper's logits);
* optionally ``features_test`` / ``labels_test``: a fixed test split (else the last
  ``test_fraction`` of the rows is the test split, without shuffling).

Making one with torchvision on a machine with a network (the asymmetric paper's recipe)::

    import numpy as np, torch, torchvision as tv
    net = tv.models.resnet18(weights="IMAGENET1K_V1"); net.fc = torch.nn.Identity(); net.eval()
    tf = tv.transforms.Compose([tv.transforms.Resize(256), tv.transforms.CenterCrop(224),
        tv.transforms.ToTensor(), tv.transforms.Normalize([0.485, 0.456, 0.406],
                                                          [0.229, 0.224, 0.225])])
    def embed(train):
        data = tv.datasets.CIFAR10("cifar", train=train, download=True, transform=tf)
        loader = torch.utils.data.DataLoader(data, batch_size=256)
        with torch.no_grad():
            feats = [net(x).numpy() for x, _ in loader]
        return np.concatenate(feats), np.asarray(data.targets)
    (f, l), (ft, lt) = embed(True), embed(False)
    np.savez("cifar10_resnet18.npz", features=f, labels=l, features_test=ft, labels_test=lt)

The masked paper's file (``ResNet50-CIFAR.ipynb`` in its repository) saves
``features`` (10000, 2048) and ``labels`` = logits (10000, 10); load it with
``preprocess="masked"`` (rows to unit L2 norm, y / max|y| over the whole file, then the first n
rows, no shuffling: ``masked_preprocess``).
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import numpy as np

from jaxntk import _validate, checkpoint
from jaxntk.data import download
from jaxntk.data.images import one_hot

# What NumPy-array pickles (protocol 2, Python 2 era, as the CIFAR batches) need, and nothing else.
ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
}


class _ArraysOnly(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) in ALLOWED_GLOBALS:
            if name == "_reconstruct":
                # the live function, wherever this NumPy keeps it (numpy.core became numpy._core)
                return np.ndarray(0).__reduce__()[0]
            return pickle.Unpickler.find_class(self, module, name)
        raise pickle.UnpicklingError(
            f"refusing to unpickle {module}.{name}: a CIFAR batch holds only a dict of arrays, "
            "lists and bytes — this file is not one (and unpickling it could run code)"
        )


def read_batch(path) -> dict:
    """One CIFAR "python" batch as {"data": (n, 3072) uint8, "labels": (n,) int}.

    Raises:
      ValueError: the pickle refers to anything but NumPy arrays, or lacks the expected arrays.
    """
    path = Path(path)
    try:
        raw = _ArraysOnly(io.BytesIO(path.read_bytes()), encoding="bytes").load()
    except pickle.UnpicklingError as err:
        raise ValueError(f"{path}: {err}") from err
    except Exception as err:  # truncated or garbage files raise EOFError, KeyError, ...
        raise ValueError(
            f"{path}: not a readable CIFAR batch ({type(err).__name__}: {err})"
        ) from err
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: a CIFAR batch is a dict, got {type(raw).__name__}")
    raw = {(k.decode() if isinstance(k, bytes) else k): v for k, v in raw.items()}
    label_key = next((k for k in ("labels", "fine_labels") if k in raw), None)
    if "data" not in raw or label_key is None:
        raise ValueError(
            f"{path}: a CIFAR batch needs 'data' and 'labels'/'fine_labels' keys, got {sorted(raw)}"
        )
    data = raw["data"]
    labels = np.asarray(raw[label_key])
    if (
        not isinstance(data, np.ndarray)
        or data.dtype != np.uint8
        or data.ndim != 2
        or (data.shape[1] != 3072 or len(labels) != len(data) or labels.ndim != 1)
    ):
        raise ValueError(
            f"{path}: expected data uint8 (n, 3072) and n labels, got "
            f"{getattr(data, 'dtype', type(data).__name__)} {np.shape(data)} and {labels.shape}"
        )
    return {"data": data, "labels": labels.astype(np.int64)}


def load_cifar(path, num_classes: int = 10) -> dict:
    """Train and test arrays from an extracted ``cifar-10-batches-py`` / ``cifar-100-python``."""
    path = Path(path)
    names = (
        {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}
        if num_classes == 10
        else {"train": ["train"], "test": ["test"]}
    )
    missing = [n for group in names.values() for n in group if not (path / n).is_file()]
    if missing:
        raise download.DataUnavailableError(
            f"CIFAR-{num_classes} batches {missing} not found in {path}: download "
            f"https://www.cs.toronto.edu/~kriz/cifar-{num_classes}-python.tar.gz elsewhere, "
            "extract it and pass path= to the extracted folder"
        )
    out = {}
    for split, files in names.items():
        batches = [read_batch(path / f) for f in files]
        x = np.concatenate([b["data"] for b in batches]).astype(np.float64) / 255.0
        labels = np.concatenate([b["labels"] for b in batches])
        out[f"x_{split}"], out[f"y_{split}"] = x, one_hot(labels, num_classes)
    return out


def masked_preprocess(x, y, *, scale=None):
    """The official masked-neurons ``load_data`` (``resnet_cifar_experiments.py``): every row of
    ``x`` divided by its L2 norm, ``y`` divided by ``scale`` (default: max|y| over all its rows).

    The official code applies it to the whole file and only then keeps the first n rows, so the
    target scale is the whole file's: take the rows after calling this, not before.
    """
    x = np.asarray(x, np.float64)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    if not (norms > 0).all():
        zero = int((norms[:, 0] == 0).sum())
        raise ValueError(
            f"masked preprocessing divides rows by their norm, but {zero} row(s) are all 0: "
            "drop them (or load with preprocess=None)"
        )
    y = np.asarray(y, np.float64)
    scale = np.abs(y).max() if scale is None else scale
    return x / norms, y / scale


def _feature_pair(path, arrays, features_key, labels_key):
    """(x, labels) of one split of a feature file, checked as loaded: x (n, d) finite reals,
    labels (n,) class indices >= 0 or (n,) / (n, C) finite real targets, one per row of x."""
    x = _validate.loaded(f"{path}: {features_key!r}", arrays[features_key], ndims=(2,))
    labels = _validate.loaded(f"{path}: {labels_key!r}", arrays[labels_key], ndims=(1, 2))
    if len(labels) != len(x):
        raise ValueError(
            f"{path}: {features_key!r} has {len(x)} rows but {labels_key!r} has {len(labels)}; "
            "one label per feature row"
        )
    if np.issubdtype(labels.dtype, np.integer) and labels.ndim == 1 and labels.min() < 0:
        raise ValueError(
            f"{path}: {labels_key!r} holds class indices, which must be >= 0 (0..C-1), got "
            f"min {labels.min()}; renumber the classes (or store float targets for regression)"
        )
    return x.astype(np.float64), labels


def _split_rows(path, x, labels, test_fraction):
    """The last ``test_fraction`` of the rows as the test split (no shuffling)."""
    test_fraction = _validate.fraction("test_fraction", test_fraction, below_one=True)
    cut = len(x) - int(test_fraction * len(x))
    if test_fraction > 0 and cut == len(x):
        raise ValueError(
            f"{path}: test_fraction={test_fraction} of {len(x)} row(s) leaves no test row; "
            "store more rows, a larger test_fraction, or features_test/labels_test"
        )
    return x[:cut], x[cut:], labels[:cut], labels[cut:]


def load_features(path, *, n=None, preprocess=None, test_fraction: float = 0.2) -> dict:
    """A feature file (module docstring) as train/test arrays and the task it implies.

    Every array is checked as it is read (real numbers, finite, the shapes above, one label
    per row, class indices >= 0, at least the ``n`` rows asked for): a bad file is refused
    here, naming the file and the key, before anything trains on it.
    """
    path = Path(path)
    if not path.is_file():
        raise download.DataUnavailableError(
            f"feature file {path} not found; make one as the jaxntk.data.cifar docstring shows"
        )
    if preprocess not in (None, "masked"):
        raise ValueError(f"unknown preprocess {preprocess!r}; choose None or 'masked'")
    if n is not None:
        n = _validate.integer("n", n, minimum=1)
    arrays = checkpoint.read_npz(
        path, fix="make it again as the jaxntk.data.cifar docstring shows (plain arrays, no pickle)"
    )
    for key in ("features", "labels"):
        if key not in arrays:
            raise ValueError(
                f"{path}: a feature file needs 'features' and 'labels', got {sorted(arrays)}"
            )
    if ("features_test" in arrays) != ("labels_test" in arrays):
        raise ValueError(
            f"{path}: a fixed test split needs both 'features_test' and 'labels_test', got "
            f"{sorted(arrays)}; save both or neither"
        )
    x, labels = _feature_pair(path, arrays, "features", "labels")
    if "features_test" in arrays:
        x_test, labels_test = _feature_pair(path, arrays, "features_test", "labels_test")
        if x_test.shape[1] != x.shape[1] or labels_test.shape[1:] != labels.shape[1:]:
            raise ValueError(
                f"{path}: the test split ({x_test.shape}, {labels_test.shape}) does not match "
                f"the training split ({x.shape}, {labels.shape}) in its columns"
            )
    elif preprocess == "masked":
        x_test, labels_test = None, None  # the masked paper trains on the first n rows only
    else:
        x, x_test, labels, labels_test = _split_rows(path, x, labels, test_fraction)
    classify = np.issubdtype(labels.dtype, np.integer) and labels.ndim == 1
    if classify:
        tops = [labels.max()]
        if labels_test is not None and len(labels_test):
            tops.append(labels_test.max())
        num_classes = int(max(tops)) + 1
        y = one_hot(labels, num_classes)
        y_test = None if labels_test is None else one_hot(labels_test, num_classes)
    else:
        num_classes = None
        y = labels.reshape(len(labels), -1).astype(np.float64)
        y_test = None if labels_test is None else labels_test.reshape(len(labels_test), -1)
    if preprocess == "masked":
        # The official load_data scales y by the max over *every* row, then keeps the first n.
        scale = np.abs(y).max()
        if not scale > 0:
            raise ValueError(
                f"{path}: 'labels' are all 0, but masked preprocessing divides them by max|y|; "
                "store the logits (or load with preprocess=None)"
            )
        x, y = masked_preprocess(x, y, scale=scale)
        if x_test is not None:
            x_test, y_test = masked_preprocess(x_test, y_test, scale=scale)
    if n is not None:
        if n > len(x):
            raise ValueError(
                f"n={n} exceeds the {len(x)} training rows of {path}; pass n <= {len(x)}"
            )
        x, y = x[:n], y[:n]
    return {
        "x_train": x,
        "y_train": y,
        "x_test": x_test,
        "y_test": y_test,
        "num_classes": num_classes,
    }

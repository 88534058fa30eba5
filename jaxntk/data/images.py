"""The MNIST family and scikit-learn's digits: pixels in [0, 1], flattened, one-hot targets.

* **Fashion-MNIST** is offline here through Debian's package ``dataset-fashion-mnist`` (its four
  gzipped IDX files in ``/usr/share/datasets/fashion-mnist``). ``make data`` unpacks the package
  into the cache directory without root (``apt-get download`` + ``dpkg -x``). Searched:
  ``$JAXNTK_DATA/fashion-mnist``, ``$JAXNTK_DATA``, the cache directory, the Debian folder.
  Debian recompressed the files (their hashes differ from upstream's), so these are checked by
  structure — IDX header against file size, and the expected shapes — not by SHA-256.
* **MNIST** is downloaded from the pinned CVDF mirror with pinned SHA-256 (published upstream and
  used by torchvision/tfds) into the cache directory; offline, the error says where to put them.
* **digits** (scikit-learn's 1797 8x8 images, shipped with the package) is always available.

Sizes are the official MNIST run's: the first 5000 training and first 5000 test images, and the
next 5000 of each for transfer-train / transfer-test (options change them).
"""

from __future__ import annotations

import numpy as np

from jaxntk import _validate
from jaxntk.data import download, idx

FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
MNIST_URL = "https://storage.googleapis.com/cvdf-datasets/mnist/"
MNIST_SHA256 = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",  # noqa: E501
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",  # noqa: E501
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",  # noqa: E501
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",  # noqa: E501
}
FASHION_DEBIAN = "/usr/share/datasets/fashion-mnist"
FASHION_HELP = (
    "Fashion-MNIST comes from Debian's package dataset-fashion-mnist: run `make data` (apt-get "
    "download + dpkg -x into the cache, no root needed), or `sudo apt-get install "
    "dataset-fashion-mnist`, or put the four files from "
    "https://github.com/zalandoresearch/fashion-mnist into $JAXNTK_DATA/fashion-mnist"
)


def fashion_mnist_dir():
    folder = download.find(FILES, "fashion-mnist", extra=(FASHION_DEBIAN,))
    if folder is None:
        looked = ", ".join(map(str, download.search_dirs("fashion-mnist", (FASHION_DEBIAN,))))
        raise download.DataUnavailableError(
            f"Fashion-MNIST not found (looked in {looked}). " + FASHION_HELP
        )
    return folder


def mnist_dir(*, download_if_missing: bool = True):
    return download.obtain(
        MNIST_SHA256, "mnist", MNIST_URL, what="MNIST", download=download_if_missing
    )


def read_mnist_family(folder) -> dict:
    """The four arrays: train/test images (n, 28, 28) uint8 and labels (n,) uint8."""
    arrays = {name: idx.read_idx(folder / name) for name in FILES}
    images_train, labels_train, images_test, labels_test = (arrays[f] for f in FILES)
    for images, labels, what in (
        (images_train, labels_train, "train"),
        (images_test, labels_test, "test"),
    ):
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise ValueError(
                f"{folder}: {what} images {images.shape} and labels {labels.shape} do not match "
                "the MNIST layout (n, 28, 28) / (n,); the files are corrupt"
            )
    return {"train": (images_train, labels_train), "test": (images_test, labels_test)}


def one_hot(labels, num_classes: int) -> np.ndarray:
    """(n, num_classes) one-hot rows of (n,) integer class indices in [0, num_classes)."""
    num_classes = _validate.integer("num_classes", num_classes, minimum=1)
    raw = np.asarray(labels)
    if raw.ndim != 1 or not np.issubdtype(raw.dtype, np.integer):
        raise ValueError(
            f"labels must be a 1-D array of integer class indices, got dtype {raw.dtype} and "
            f"shape {raw.shape}"
        )
    labels = raw.astype(np.int64)
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(
            f"labels must be class indices 0..{num_classes - 1} (num_classes={num_classes}), "
            f"got values from {labels.min()} to {labels.max()}; renumber them or raise "
            "num_classes"
        )
    return np.eye(num_classes)[labels]


def _take(images, labels, start: int, count: int, what: str):
    if start + count > len(images):
        raise ValueError(
            f"{what}: asked for images {start}..{start + count - 1} but the split has "
            f"{len(images)}; lower n_train / n_test / n_transfer"
        )
    x = images[start : start + count].reshape(count, -1).astype(np.float64) / 255.0
    return x, one_hot(labels[start : start + count], 10)


def mnist_split(arrays: dict, *, n_train=5000, n_test=5000, n_transfer=5000) -> dict:
    """The official sizes: first n of train / test, the next n_transfer of each for transfer."""
    n_train = _validate.integer("n_train", n_train, minimum=1)
    n_test = _validate.integer("n_test", n_test, minimum=1)
    n_transfer = _validate.integer("n_transfer", n_transfer, minimum=1)
    images_train, labels_train = arrays["train"]
    images_test, labels_test = arrays["test"]
    x_train, y_train = _take(images_train, labels_train, 0, n_train, "train")
    x_test, y_test = _take(images_test, labels_test, 0, n_test, "test")
    x_tt, y_tt = _take(images_train, labels_train, n_train, n_transfer, "transfer-train")
    x_te, y_te = _take(images_test, labels_test, n_test, n_transfer, "transfer-test")
    return {
        "x_train": x_train,
        "y_train": y_train,
        "x_test": x_test,
        "y_test": y_test,
        "x_transfer_train": x_tt,
        "y_transfer_train": y_tt,
        "x_transfer_test": x_te,
        "y_transfer_test": y_te,
    }


def digits():
    """scikit-learn's digits: (1797, 64) pixels / 16 and integer labels."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return bunch.data / 16.0, bunch.target

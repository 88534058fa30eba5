"""``"fashion_logits"``: the masked-neurons stand-in with the official data's structure.

The official masked-neurons data (``ResNet50-CIFAR.ipynb`` of MaskedNTK-TMLR) are 2048-d ResNet50
features of the 10,000 CIFAR-10 test images, and its targets are the **10 logits of the
fine-tuned head** Dense(512)-ReLU-Dense(10) on those features: a smooth function of the inputs,
whose energy sits in the kernel's top eigenvectors. One-hot labels of raw pixels spread it over
the whole spectrum (on the infinite-width NTK of the first 1000 Fashion-MNIST test images, 0.10 /
0.50 / 0.72 of one-hot targets' energy lies in the top 1 / 10 / 100 eigenvectors, 0.55 / 0.78 /
0.91 of a ReLU head's outputs'), so masked training there is dominated by optimisation error on
hard targets, not by the masking neighbourhood the paper measures.

This stand-in gives Fashion-MNIST that structure by following the notebook's recipe where it
applies: the same head (Keras ``Dense`` initialisers: Glorot-uniform kernels, zero biases), the
same ``compile(optimizer='SGD', loss=CategoricalCrossentropy(from_logits=True))`` — plain SGD at
Keras' default learning rate 0.01 — and ``fit(batch_size=64, epochs=3, validation_split=0.2)``:
the last 20 % of the 60,000 training images held out (Keras takes them before shuffling), the
rest reshuffled every epoch, a short final batch averaged over its own rows. The head sees pixels
/ 255 where the official one sees frozen features (the backbone is the part that cannot be built
offline). Its logits on the 10,000 test images are the targets; ``load`` then applies the
official ``load_data`` (unit rows, y / max|y| over all 10,000 rows, first n rows).

Built deterministically (a fixed key; XLA:CPU runs are bitwise repeatable) in seconds on 2 cores
and cached in ``cache_dir()/fashion_logits``, keyed by the four IDX files' contents, the recipe
and the JAX version (another JAX may draw other bits), with the head's accuracies recorded.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import os
import tempfile
from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxntk.data import cifar, download, images

CLASSES = 10


@dataclasses.dataclass(frozen=True)
class Recipe:
    """How the head is trained (``ResNet50-CIFAR.ipynb``'s ``compile`` and ``fit``)."""

    hidden: int = 512
    lr: float = 0.01  # Keras' optimizer='SGD': learning rate 0.01, no momentum
    batch: int = 64
    epochs: int = 3
    validation_split: float = 0.2
    seed: int = 0  # the notebook sets none; ours is fixed for a deterministic build


RECIPE = Recipe()


class Head(nn.Module):
    """Dense(hidden)-ReLU-Dense(10) with Keras ``Dense``'s defaults: Glorot-uniform kernels,
    zero biases."""

    hidden: int

    @nn.compact
    def __call__(self, x):
        kernel = nn.initializers.glorot_uniform()
        x = nn.relu(nn.Dense(self.hidden, kernel_init=kernel)(x))
        return nn.Dense(CLASSES, kernel_init=kernel)(x)


@functools.partial(jax.jit, static_argnames="recipe")
def _fit(key, x, onehot, recipe: Recipe):
    """SGD on softmax cross-entropy, ``recipe.epochs`` reshuffled passes: the head's params."""
    head = Head(recipe.hidden)
    init_key, shuffle_key = jax.random.split(key)
    params = head.init(init_key, x[:1])
    optimizer = optax.sgd(recipe.lr)
    n = x.shape[0]
    steps = math.ceil(n / recipe.batch)
    pad = steps * recipe.batch - n  # the short last batch, padded with weight-0 rows

    def loss(p, rows, weight):
        ce = optax.softmax_cross_entropy(head.apply(p, x[rows]), onehot[rows])
        return jnp.sum(weight * ce) / jnp.sum(weight)

    def step(carry, batch):
        p, state = carry
        updates, state = optimizer.update(jax.grad(loss)(p, *batch), state, p)
        return (optax.apply_updates(p, updates), state), None

    def epoch(carry, k):
        order = jnp.concatenate([jax.random.permutation(k, n), jnp.zeros(pad, int)])
        weight = jnp.concatenate([jnp.ones(n, x.dtype), jnp.zeros(pad, x.dtype)])
        batches = (order.reshape(steps, recipe.batch), weight.reshape(steps, recipe.batch))
        return jax.lax.scan(step, carry, batches)[0], None

    carry = (params, optimizer.init(params))
    (params, _), _ = jax.lax.scan(epoch, carry, jax.random.split(shuffle_key, recipe.epochs))
    return params


def build(folder, recipe: Recipe = RECIPE) -> dict:
    """Train the head on the training images of ``folder`` (the four IDX files) and return
    ``{"logits": (n_test, 10) float32 on the test images, "pixels": (n_test, 784) float32,
    "test_accuracy", "validation_accuracy"}``."""
    arrays = images.read_mnist_family(Path(folder))
    (train_images, train_labels), (test_images, test_labels) = arrays["train"], arrays["test"]

    def flat(a):
        return jnp.asarray(a.reshape(len(a), -1) / 255.0, jnp.float32)

    x, onehot = flat(train_images), jnp.asarray(images.one_hot(train_labels, CLASSES), jnp.float32)
    split_at = math.floor(len(x) * (1.0 - recipe.validation_split))  # Keras: the last rows
    if split_at < 1 or split_at >= len(x):
        raise ValueError(
            f"{folder}: {len(x)} training images leave no rows on one side of the "
            f"validation_split={recipe.validation_split}; the files are too small"
        )
    params = _fit(jax.random.key(recipe.seed), x[:split_at], onehot[:split_at], recipe)
    head = Head(recipe.hidden)

    def accuracy(inputs, labels):
        predicted = np.asarray(jnp.argmax(head.apply(params, inputs), axis=1))
        return float(np.mean(predicted == np.asarray(labels)))

    test_x = flat(test_images)
    return {
        "logits": np.asarray(head.apply(params, test_x), np.float32),
        "pixels": np.asarray(test_x),
        "test_accuracy": accuracy(test_x, test_labels),
        "validation_accuracy": accuracy(x[split_at:], train_labels[split_at:]),
    }


def _tag(folder: Path, recipe: Recipe) -> str:
    digest = hashlib.sha256()
    for name in images.FILES:  # the contents: a replaced file is a new build, not a stale cache
        digest.update(download.sha256(folder / name).encode())
    digest.update(json.dumps(dataclasses.asdict(recipe), sort_keys=True).encode())
    digest.update(jax.__version__.encode())
    return digest.hexdigest()[:16]


def cached(folder=None, recipe: Recipe = RECIPE) -> dict:
    """``build``'s result, from the cache when this (files, recipe, JAX) was built before."""
    folder = Path(folder) if folder is not None else images.fashion_mnist_dir()
    path = download.cache_dir() / "fashion_logits" / f"{_tag(folder, recipe)}.npz"
    if path.exists():
        try:
            with np.load(path) as f:
                return {k: f[k] if f[k].ndim else float(f[k]) for k in f.files}
        except (OSError, ValueError, KeyError):  # truncated or foreign: rebuild it below
            pass
    out = build(folder, recipe)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **out)
        os.replace(tmp, path)  # atomic: a concurrent or killed build never leaves half a file
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out


def load(n: int | None = None, folder=None) -> dict:
    """The stand-in arrays: the official ``load_data`` applied to (test pixels, head logits).

    Returns ``{"x": (n, 784) unit rows, "y": (n, 10) logits / max|logits| over every test image,
    "test_accuracy", "validation_accuracy", "source"}`` (n = all test images by default).
    """
    folder = Path(folder) if folder is not None else images.fashion_mnist_dir()
    built = cached(folder)
    rows = len(built["pixels"])
    n = rows if n is None else n
    if not 1 <= n <= rows:
        raise ValueError(f"n={n} must lie in [1, {rows}] (the test images of Fashion-MNIST)")
    x, y = cifar.masked_preprocess(built["pixels"], built["logits"])  # scale: all rows
    return {
        "x": x[:n],
        "y": y[:n],
        "test_accuracy": built["test_accuracy"],
        "validation_accuracy": built["validation_accuracy"],
        "source": f"{folder} + a Dense({RECIPE.hidden})-ReLU-Dense(10) head trained on it",
    }

"""Transfer of the top-k learned features to a fresh MLP head (Caron et al., arXiv 2302.01002).

Features are the trained network's hidden outputs phi_j(x) = s_j relu(w_j . x) (with the node
scale s = sqrt(lam), as the official code) of the k most important nodes (``jaxntk.prune.order``,
descending). A small flax MLP head is trained on them by full-batch SGD (optax) on the
mean-MSE, for every k at once: features are zero-padded to max(ks) and the head's first layer
initialised with fan-in k, which is exactly a head on k inputs (padded inputs are 0, so their
weights get no gradient and contribute nothing), and the heads of all ks run under one ``vmap``.

Head initialization is PyTorch's nn.Linear default, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for
weights and biases, as in the official code. With sqrt(lam) in the features, gamma = 1 features
are ~sqrt(m lam_max) smaller than gamma < 1 ones (1/sqrt(2000) = 0.022 against 0.42-0.86 for the
paper's configurations), which a fixed head learning rate turns into a confound:
``standardize_features=True`` rescales every feature to mean 0, std 1 on the transfer-train set.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from jaxntk import _validate, metrics, model, steps
from jaxntk.gd import check_node_scale
from jaxntk.prune import order


@dataclasses.dataclass(frozen=True)
class HeadConfig:
    """The transfer head and its training.

    Attributes:
      hidden: widths of the hidden layers (ReLU between layers).
      lr: SGD learning rate (full batch).
      num_steps: SGD steps.
    """

    hidden: tuple[int, ...] = (64, 64)
    lr: float = 0.1
    num_steps: int = 5000

    def __post_init__(self):
        if not isinstance(self.hidden, (tuple, list)) or not self.hidden or any(
            isinstance(h, bool) or not isinstance(h, int) or h < 1 for h in self.hidden
        ):
            raise ValueError(f"hidden must be a non-empty tuple of widths >= 1, got {self.hidden}")
        _validate.positive("lr", self.lr)
        _validate.integer("num_steps", self.num_steps, minimum=0)

    @classmethod
    def regression(cls) -> HeadConfig:
        """Official UCI head: Linear(k,64)-ReLU-Linear(64,64)-ReLU-Linear(64,1), lr 0.1, 5000."""
        return cls((64, 64), 0.1, 5000)

    @classmethod
    def mnist(cls) -> HeadConfig:
        """Official MNIST head: two hidden layers of 128, lr 1.0, 10 000 steps."""
        return cls((128, 128), 1.0, 10_000)


class TransferCurve(NamedTuple):
    """Head risks for every k (leading axes if vmapped).

    Attributes:
      ks: (K,) feature counts.
      train_risk, test_risk: (K,) mean((g(phi) - y)^2) on the transfer train / test sets.
      train_acc, test_acc: (K,) argmax accuracy for C > 1 outputs, else None.
    """

    ks: jax.Array
    train_risk: jax.Array
    test_risk: jax.Array
    train_acc: jax.Array | None
    test_acc: jax.Array | None


def _unit_uniform(key, shape, dtype=jnp.float32):
    return jax.random.uniform(key, shape, dtype, -1.0, 1.0)


class MLPHead(nn.Module):
    """relu MLP; parameters start U(-1, 1) and ``init_head`` rescales them to 1/sqrt(fan_in)."""

    hidden: tuple[int, ...]
    out_dim: int

    @nn.compact
    def __call__(self, z):
        for width in self.hidden:
            z = nn.relu(nn.Dense(width, kernel_init=_unit_uniform, bias_init=_unit_uniform)(z))
        return nn.Dense(self.out_dim, kernel_init=_unit_uniform, bias_init=_unit_uniform)(z)


def init_head(key, head: HeadConfig, k, max_k: int, out_dim: int, dtype):
    """Head parameters for k real inputs out of ``max_k`` (k may be traced)."""
    module = MLPHead(head.hidden, out_dim)
    params = module.init(key, jnp.zeros((max_k,), dtype))["params"]
    fan_ins = [None, *head.hidden]  # None: the first layer, fan-in k
    scaled = {}
    for i, fan_in in enumerate(fan_ins):
        layer = params[f"Dense_{i}"]
        if fan_in is None:
            bound = 1.0 / jnp.sqrt(jnp.asarray(k, dtype))
            rows = (jnp.arange(max_k) < k).astype(dtype)[:, None]  # padded inputs: no weight
            kernel = layer["kernel"] * bound * rows
        else:
            bound = 1.0 / math.sqrt(fan_in)
            kernel = layer["kernel"] * bound
        scaled[f"Dense_{i}"] = {"kernel": kernel, "bias": layer["bias"] * bound}
    return module, scaled


def features(params, x, node_scale=None):
    """(n, width) hidden features phi_j(x) = s_j relu(w_j . (in_scale x)), before c_out."""
    hidden = model.features(params, x)
    return hidden if node_scale is None else hidden * node_scale[None, :]


def transfer_curve(
    key,
    params,
    node_scale,
    x_train,
    y_train,
    x_test,
    y_test,
    ks,
    head: HeadConfig | None = None,
    *,
    standardize_features: bool = False,
    tie_key=None,
) -> TransferCurve:
    """Train a fresh head on the top-k features for every k in ``ks``.

    Args:
      key: PRNG key of the heads' initializations (one split per k).
      params, node_scale: the trained network and its (width,) sqrt(lam) (or None).
      x_train, y_train: transfer-train set (the head is fit here).
      x_test, y_test: transfer-test set.
      ks: feature counts, each in [1, width] (the official grid: 10, 20, ..., 100).
      head: a ``HeadConfig`` (default ``HeadConfig.regression()``).
      standardize_features: standardize each feature with transfer-train mean and std.
      tie_key: optional PRNG key for random tie-breaking in the importance order.

    Returns:
      A ``TransferCurve``.
    """
    _validate.key(key)
    if tie_key is not None:
        _validate.key(tie_key, "tie_key")
    head = HeadConfig.regression() if head is None else head
    _validate.instance("head", head, HeadConfig, "jaxntk.transfer.HeadConfig")
    _validate.network(params)
    dtype, in_dim, width = params["w"].dtype, params["w"].shape[1], params["w"].shape[0]
    _validate.float_matrix("x_train", x_train, dtype=dtype, ncols=in_dim)
    _validate.float_matrix("x_test", x_test, dtype=dtype, ncols=in_dim)
    _validate.float_matrix("y_train", y_train, dtype=dtype, nrows=x_train.shape[0])
    _validate.float_matrix(
        "y_test", y_test, dtype=dtype, nrows=x_test.shape[0], ncols=y_train.shape[1]
    )
    if node_scale is not None:
        _validate.per_node("node_scale", node_scale, width)
    check_node_scale(params, node_scale)
    standardize_features = _validate.boolean("standardize_features", standardize_features)
    # ks sets the static feature count (max k), so it must be concrete.
    if isinstance(ks, jax.core.Tracer):
        raise ValueError("ks must be concrete (a list or NumPy array), not a traced value")
    ks_np = _validate.counts("ks", ks, low=1, high=width, each="every k")
    max_k = int(ks_np.max())
    ks = jnp.asarray(ks_np)
    top = order(params, node_scale, key=tie_key, descending=True)[:max_k]
    phi_train = features(params, x_train, node_scale)[:, top]
    phi_test = features(params, x_test, node_scale)[:, top]
    if standardize_features:
        mean = jnp.mean(phi_train, axis=0, keepdims=True)
        std = jnp.std(phi_train, axis=0, keepdims=True)
        std = jnp.where(std > 0, std, 1.0)  # a feature constant on the train set carries nothing
        phi_train, phi_test = (phi_train - mean) / std, (phi_test - mean) / std
    return fit_heads(jax.random.split(key, ks.size), ks, phi_train, y_train, phi_test, y_test, head)


def fit_heads(keys, ks, phi_train, y_train, phi_test, y_test, head: HeadConfig) -> TransferCurve:
    """Fit one head per k on the first k columns of (n, max_k) features, all under one vmap.

    ``keys`` (len(ks),) initialise the heads; ``phi_*`` columns beyond k are ignored exactly.
    """
    return TransferCurve(ks, *_fit_heads(keys, ks, phi_train, y_train, phi_test, y_test, head))


# One compiled program per (shapes, head): module level, so calling again with new features or
# keys reuses it (a jitted closure made per call would compile every time).
@functools.partial(jax.jit, static_argnames="head")
def _fit_heads(keys, ks, phi_train, y_train, phi_test, y_test, head: HeadConfig):
    max_k, out_dim, dtype = phi_train.shape[1], y_train.shape[1], phi_train.dtype
    classify = out_dim > 1
    optimizer = optax.sgd(head.lr)

    def fit(key, k):
        module, head_params = init_head(key, head, k, max_k, out_dim, dtype)
        columns = (jnp.arange(max_k) < k).astype(dtype)[None, :]
        z_train, z_test = phi_train * columns, phi_test * columns

        def loss(p):
            return metrics.risk(module.apply({"params": p}, z_train), y_train)

        head_params = steps.descend(loss, head_params, optimizer, head.num_steps).params
        pred_train = module.apply({"params": head_params}, z_train)
        pred_test = module.apply({"params": head_params}, z_test)
        return (
            metrics.risk(pred_train, y_train),
            metrics.risk(pred_test, y_test),
            metrics.accuracy(pred_train, y_train) if classify else None,
            metrics.accuracy(pred_test, y_test) if classify else None,
        )

    return jax.vmap(fit)(keys, ks)

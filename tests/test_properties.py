"""Property-based bad inputs (hypothesis): every public entry either works or says what is wrong.

Each test starts from one valid call of a public entry on a tiny problem and lets hypothesis
replace ONE argument (or one config field, or one params leaf) by a generated value: of the wrong
type, shape, dtype or range, NaN/inf, empty or oversized. The call must then either

* return finite results of the documented shapes (``check``), or
* raise ``ValueError`` / ``TypeError`` (``DivergenceError`` too, for a step size that diverges)
  whose message names the replaced argument,

and never raise anything else, abort the process, hang (``_deadline``: SIGALRM) or return NaN.
The CLI the same way: ``main(argv)`` with one flag's value replaced starts the run, or exits 2
with one line on stderr and no traceback.

The examples are derandomized (the same inputs in every run, so CI is deterministic) and few by
default: ``JAXNTK_PROPERTY_EXAMPLES=N`` tries N per entry (docs/reliability.md reports a run with
more). Valid replacements recompile, so the generated arrays come from a few fixed shapes.
"""

import contextlib
import dataclasses
import math
import os
import signal

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import jaxntk
from jaxntk import data, ntk, scaling

EXAMPLES = int(os.environ.get("JAXNTK_PROPERTY_EXAMPLES", "25"))
PROPERTY = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
SECONDS = 120  # one call; the slowest valid one here takes ~5 s with compiling

N, D, M, C = 6, 3, 8, 2  # rows, input dim, width, outputs of the tiny problem
DTYPE = jnp.float32


@contextlib.contextmanager
def _deadline(seconds=SECONDS):
    """Fail instead of hanging: SIGALRM raises in the main thread after ``seconds``."""

    def expire(signum, frame):
        raise TimeoutError(f"the call did not return within {seconds} s (a hang)")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


# ------------------------------------------------------------------------------ generated values


def _arrays(shapes):
    """Arrays of the given shapes: wrong dtype, NaN/inf entries, huge or ordinary values."""
    fills = st.sampled_from([0.0, 1.0, -1.0, 0.5, math.nan, math.inf, -math.inf, 1e30, 1e-30])
    dtypes = st.sampled_from([np.float32, np.float64, np.int32, np.bool_, np.complex64])

    @st.composite
    def build(draw):
        shape = draw(st.sampled_from(shapes))
        dtype = draw(dtypes)
        rng = np.random.default_rng(draw(st.integers(0, 3)))
        value = rng.normal(size=shape)
        if draw(st.booleans()):  # one entry replaced by a special value
            if value.size:
                value.flat[draw(st.integers(0, value.size - 1))] = draw(fills)
        else:
            value = np.full(shape, draw(fills))
        with np.errstate(invalid="ignore", over="ignore"):
            return value.astype(dtype) if dtype is not np.bool_ else value > 0

    return build()


SCALARS = st.one_of(
    st.sampled_from([0, 1, 2, -1, 0.0, -0.5, 0.5, 1.5, math.nan, math.inf, -math.inf, 10**12]),
    st.sampled_from([None, True, False, "2", "no", "", (), [1, 2], {"a": 1}, 1 + 2j]),
    st.floats(-1e6, 1e6, allow_nan=False),
    st.integers(-(2**40), 2**40),
)


def values_for(shapes):
    """A replacement: scalars of every kind, or arrays of the given (and some wrong) shapes."""
    wrong = [(), (0,), (0, D), (N,), (1, 1), (N, D, 1)]
    return st.one_of(SCALARS, _arrays(list(shapes) + wrong))


# ------------------------------------------------------------------------------ the entries


def _params(key=0):
    return jaxntk.init_params(jax.random.key(key), D, M, C, dtype=DTYPE)


def _data():
    x = jax.random.normal(jax.random.key(1), (N, D), DTYPE)
    x = x / jnp.linalg.norm(x, axis=1, keepdims=True)
    y = jax.random.normal(jax.random.key(2), (N, C), DTYPE)
    return x, y


def _finite(tree, name):
    for leaf in jax.tree_util.tree_leaves(tree):
        leaf = np.asarray(leaf)
        if np.issubdtype(leaf.dtype, np.inexact):
            assert np.all(np.isfinite(leaf)), f"{name}: a silent NaN/inf in the result"


@dataclasses.dataclass(frozen=True)
class Entry:
    """One public entry: a valid call, and what a replacement of each argument may be."""

    name: str
    call: object  # (kwargs) -> result
    base: object  # () -> kwargs of a valid call
    shapes: dict  # argument -> shapes a valid replacement would have
    check: object  # (result, kwargs) -> None: the documented shapes
    aliases: dict = dataclasses.field(default_factory=dict)  # argument -> other names in messages

    def names(self, arg):
        return (arg, *self.aliases.get(arg, ()))


def _masked_base():
    x, y = _data()
    cfg = jaxntk.MaskedConfig(2, 0.5, 2, 0.1, 3)
    return dict(key=jax.random.key(3), params=_params(), x=x, y=y, cfg=cfg)


def _masked_check(out, kw):
    params, hist = out
    assert params["w"].shape == (M, D)
    assert hist.loss.shape == (kw["cfg"].num_rounds + 1,)
    _finite((params, hist), "train_masked")


def _sweep_base():
    x, y = _data()
    cfg = jaxntk.MaskedConfig(2, 0.5, 1, 0.1, 2)
    params = jax.vmap(lambda k: jaxntk.init_params(k, D, M, C, dtype=DTYPE))(
        jax.random.split(jax.random.key(4), 2)
    )
    return dict(
        keys=jax.random.split(jax.random.key(5), 2), params=params, x=x, y=y, cfg=cfg,
        num_subnets=[1, 2], keep_prob=[0.5, 1.0], lr=[0.1, 0.05],
    )  # fmt: skip


def _sweep_check(out, kw):
    params, hist = out
    assert hist.loss.shape == (2, 2, kw["cfg"].num_rounds + 1)
    _finite((params, hist), "sweep_masked")


def _gd_base():
    x, y = _data()
    cfg = jaxntk.GDConfig(lr=0.1, num_steps=4, log_every=2, ntk_points=4)
    return dict(params=_params(), x=x, y=y, cfg=cfg, node_scale=jnp.full(M, 0.5, DTYPE))


def _gd_check(out, kw):
    params, hist = out
    assert params["w"].shape == (M, D)
    assert hist.train_risk.shape == (kw["cfg"].num_logs,)
    _finite((params, hist.train_risk, hist.node_movement), "train_gd")


def _prune_base():
    x, y = _data()
    return dict(params=_params(), node_scale=jnp.linspace(0.1, 1.0, M, dtype=DTYPE), x=x, y=y,
                counts=[0, 2, M])  # fmt: skip


def _prune_check(out, kw):
    assert np.shape(out.train_risk)[-1] == len(kw["counts"])
    _finite(out, "prune_curve")


def _transfer_base():
    x, y = _data()
    head = jaxntk.HeadConfig(hidden=(4,), lr=0.05, num_steps=3)
    return dict(key=jax.random.key(6), params=_params(), node_scale=jnp.linspace(1.0, 0.1, M),
                x_train=x, y_train=y, x_test=x[:3], y_test=y[:3], ks=[1, 4], head=head)  # fmt: skip


def _transfer_check(out, kw):
    assert np.shape(out.test_risk)[-1] == len(kw["ks"])
    _finite(out, "transfer_curve")


def _ntk_base():
    x, _ = _data()
    return dict(params=_params(), x1=x, backend="closed_form")


def _ntk_check(out, kw):
    n1 = np.shape(kw["x1"])[0]
    n2 = n1 if kw.get("x2") is None else np.shape(kw["x2"])[0]
    assert np.shape(out)[:2] == (n1, n2)
    _finite(out, "ntk.empirical")


def _masked_ntk_base():
    x, _ = _data()
    masks = jaxntk.masks.sample(jax.random.key(7), "bernoulli", 3, M, 0.5, dtype=DTYPE)
    return dict(params=_params(), x=x, masks=masks, keep_prob=0.5, backend="closed_form")


def _masked_ntk_check(out, kw):
    kernels, mean = out
    assert np.shape(kernels)[0] == np.shape(kw["masks"])[0]
    assert np.shape(mean) == np.shape(kernels)[1:]
    _finite(out, "ntk.masked")


def _scales_check(out, kw):
    assert np.shape(out) == (kw["width"],)
    _finite(out, "node_scales")
    assert np.all(np.asarray(out) >= 0) and np.isclose(np.sum(out), 1.0, rtol=1e-4)


def _load_check(out, kw):
    assert out.x_train.shape == (kw["n"], kw["in_dim"])
    _finite(out.x_train, "data.load")


ENTRIES = {
    e.name: e
    for e in [
        Entry("init_params", lambda kw: jaxntk.init_params(**kw),
              lambda: dict(key=jax.random.key(0), in_dim=D, width=M, out_dim=C, dtype=DTYPE),
              {}, lambda out, kw: _finite(out, "init_params")),
        Entry("train_masked", lambda kw: jaxntk.train_masked(**kw), _masked_base,
              {"x": [(N, D)], "y": [(N, C)], "node_scale": [(M,)]}, _masked_check),
        Entry("sweep_masked", lambda kw: jaxntk.sweep_masked(**kw), _sweep_base,
              {"x": [(N, D)], "y": [(N, C)], "num_subnets": [(2,)], "keep_prob": [(2,)],
               "lr": [(2,)], "node_scale": [(M,), (2, M)]}, _sweep_check),
        Entry("train_gd", lambda kw: jaxntk.train_gd(**kw), _gd_base,
              {"x": [(N, D)], "y": [(N, C)], "node_scale": [(M,)]}, _gd_check),
        Entry("prune_curve", lambda kw: jaxntk.prune_curve(**kw), _prune_base,
              {"x": [(N, D)], "y": [(N, C)], "node_scale": [(M,)], "counts": [(3,)]},
              _prune_check),
        Entry("transfer_curve", lambda kw: jaxntk.transfer_curve(**kw), _transfer_base,
              {"x_train": [(N, D)], "y_train": [(N, C)], "x_test": [(3, D)],
               "y_test": [(3, C)], "node_scale": [(M,)], "ks": [(2,)]}, _transfer_check),
        Entry("ntk.empirical", lambda kw: ntk.empirical(**kw), _ntk_base,
              {"x1": [(N, D)], "x2": [(3, D)], "node_scale": [(M,)]}, _ntk_check,
              {"x1": ("x",)}),
        Entry("ntk.masked", lambda kw: ntk.masked(**kw), _masked_ntk_base,
              {"x": [(N, D)], "masks": [(3, M)], "node_scale": [(M,)]}, _masked_ntk_check),
        Entry("scaling.node_scales", lambda kw: scaling.node_scales(**kw),
              lambda: dict(key=jax.random.key(8), width=M, gamma=0.5, kind="iid"),
              {}, _scales_check),
        Entry("data.load", lambda kw: data.load(kw.pop("name"), **kw),
              lambda: dict(name="sphere", key=jax.random.key(9), n=N, n_test=3, in_dim=D),
              {}, _load_check, {"name": ("data set",)}),
    ]
}  # fmt: skip

# Config fields are replaced too (the config is rebuilt with the bad field).
CONFIG_ARGS = {"train_masked": "cfg", "sweep_masked": "cfg", "train_gd": "cfg",
               "transfer_curve": "head"}  # fmt: skip


def _replacements(entry: Entry):
    """(argument or "cfg.field" or "params.leaf", value) for one replacement in ``entry``."""
    base = entry.base()
    targets = [k for k in base if k not in ("key", "keys")] + ["key"] * ("key" in base)
    options = [st.tuples(st.just(k), values_for(entry.shapes.get(k, []))) for k in targets]
    if entry.name in CONFIG_ARGS:
        cfg = base[CONFIG_ARGS[entry.name]]
        options += [
            st.tuples(st.just(f"cfg.{f.name}"), SCALARS) for f in dataclasses.fields(cfg)
        ]
    if "params" in base and entry.name != "sweep_masked":
        shapes = {"w": [(M, D), (M, D + 1)], "a": [(M, C), (M,)]}
        options += [st.tuples(st.just(f"params.{k}"), values_for(v)) for k, v in shapes.items()]
    return st.one_of(options)


def _apply(entry: Entry, target: str, value):
    """The valid kwargs with ``target`` replaced; the names a message may use for it."""
    kw = entry.base()
    head, _, field = target.partition(".")
    if head == "cfg" and field:
        arg = CONFIG_ARGS[entry.name]
        kw[arg] = dataclasses.replace(kw[arg], **{field: value})  # may raise: checked in call
        return kw, (field, arg)
    if head == "params" and field:
        kw["params"] = {**kw["params"], field: value}
        return kw, ("params", field)
    kw[target] = value
    return kw, entry.names(target)


def _outcome(entry: Entry, target: str, value):
    """Run one replaced call; fail unless it works or is refused naming the argument."""
    names = entry.names(target.partition(".")[2] or target)
    if os.environ.get("JAXNTK_PROPERTY_TRACE"):  # which input a crashed process was given
        print(f"{entry.name}: {target}={value!r}", flush=True)
    try:
        with _deadline():
            kw, names = _apply(entry, target, value)
            out = entry.call(dict(kw))
            jax.block_until_ready(out)
    except (ValueError, TypeError, FloatingPointError) as err:
        message = str(err)
        assert any(n in message for n in names), (
            f"{entry.name}: {target}={value!r} raised {type(err).__name__} not naming "
            f"{' / '.join(names)}: {message}"
        )
        return "refused"
    except Exception as err:  # noqa: BLE001 - the property: nothing else escapes
        pytest.fail(f"{entry.name}: {target}={value!r} raised {type(err).__name__}: {err}")
    entry.check(out, kw)
    return "worked"


@pytest.mark.parametrize("name", list(ENTRIES))
def test_a_replaced_argument_works_or_is_refused_by_name(name):
    entry = ENTRIES[name]
    jax.block_until_ready(entry.call(entry.base()))  # the valid call itself works

    @PROPERTY
    @given(_replacements(entry))
    def replaced(change):
        _outcome(entry, *change)

    replaced()


# ------------------------------------------------------------------------------ the command line

CLI_SCRIPTS = ("masked_demo", "masked_fig2a", "asym_simulated", "asym_regression")
CLI_TEXT = st.one_of(
    st.sampled_from(["nan", "inf", "-inf", "-1", "0", "1e400", "1.5", "2", "-0.5", "abc", "",
                     "true", "no", "()", "1,2", "0.5,nan", "[1]", "None", "1e-300", "10**9"]),
    st.text(alphabet="0123456789.,-+eE naif", max_size=6),
)  # fmt: skip


class _Started(Exception):
    """The run started: parsing accepted the command line (``cfg`` is what it parsed)."""

    def __init__(self, cfg):
        self.cfg = cfg


def _check_parsed(cfg, field: str, default):
    """An accepted value has its field's kind, and a number is finite."""
    value = getattr(cfg, field)
    items = value if isinstance(default, tuple) else (value,)
    for item in items:
        if isinstance(item, float):
            assert math.isfinite(item), f"--{field}: accepted a non-finite {item!r}"
    if isinstance(default, bool):
        assert isinstance(value, bool), f"--{field}: accepted {value!r} for a bool"


@pytest.mark.experiments
@pytest.mark.parametrize("script_name", CLI_SCRIPTS)
def test_a_bad_flag_value_exits_2_with_one_line_or_starts_the_run(script_name, tmp_path, capsys):
    import importlib

    from jaxntk.experiments import _cli

    module = importlib.import_module(f"jaxntk.experiments.{script_name}")

    def run(cfg, stages=None):
        raise _Started(cfg)

    script = dataclasses.replace(module.SCRIPT, run=run)
    smoke = module.SCRIPT.presets["smoke"]
    fields = [f.name for f in dataclasses.fields(smoke)]

    @PROPERTY
    @given(st.sampled_from(fields), CLI_TEXT)
    def flag(field, text):
        capsys.readouterr()
        argv = ["--preset", "smoke", f"--{field}", text, "--outdir", str(tmp_path / "out")]
        try:
            with _deadline():
                _cli.main(script, argv)
        except _Started as started:
            _check_parsed(started.cfg, field, getattr(smoke, field))
            return
        except SystemExit as exit_:
            err = capsys.readouterr().err.strip()
            assert exit_.code == 2, f"--{field} {text!r}: exit {exit_.code}: {err}"
            assert "Traceback" not in err and len(err.splitlines()) == 1, err
            assert f"--{field}" in err or field in err, f"--{field} {text!r}: {err}"
            return
        pytest.fail(f"--{field} {text!r}: main returned without running")

    flag()

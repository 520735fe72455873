"""Every op-database sample through the compiled whole-step backend, against the reference.

Compiling one step per sample would cost minutes of Numba time, so the first sample of every
op, and the NaN/inf, empty-axis and integer-reduction samples of the ops whose step code handles
them itself (see ``_special``), are built side by side into four graphs (every fourth op), each
compiled once: forward values and gradients of all of them come out of four compiled steps and
must match the NumPy reference executor. (The other samples run through the same generator code paths;
test_fuzz adds random graphs.)
"""
import sys

import numpy as np
import opdb  # noqa: I001
import opdb_special
import pytest
from numba.core.dispatcher import Dispatcher

import graphengine as ge
from graphengine.backends.cpu.step import StepBackend, StepExecutable
from graphengine.backends.cpu.stepgen import generate
from graphengine.compiler import compile_program
from graphengine.compiler.fuse import fuse
from graphengine.ops.registry import OPS
from kernels.cpu import pyblas, pykernels, pyloops

DB = (opdb.BINARY + opdb.UNARY + [opdb.CAST] + opdb.GRAD_HELPERS + opdb.MATMUL + opdb.REDUCE
      + opdb.ARG + opdb.MOVEMENT + [opdb.ONE_HOT] + opdb.NN + opdb.NORM_GATHER + opdb.CONV)
PER_OP = 1


# Elementwise templates are rendered by the same code for jit="op" (test_ops runs every NaN/inf
# sample there); the step gets those whose NaN handling is a selection, plus every reduction's.
STEP_NAN_ELEMENTWISE = {"maximum", "minimum", "relu", "relu6", "sign", "leaky_relu", "where", "divide"}


def _special(info, s) -> bool:
    """NaN/inf and empty-axis samples of reductions, argmax/min and softmax-like ops, the
    selection-like elementwise templates, and integer reductions (their empty-axis cases too)."""
    if info in opdb_special.INT_REDUCE:
        return s.name.startswith("empty") or s is info.samples[1]
    if not s.name.startswith(("nan", "empty")):
        return False
    od = OPS.get(info.name)  # (entries named after a variant, e.g. "batch_norm-y", are not elementwise)
    return od is None or od.kind != "elementwise" or info.name in STEP_NAN_ELEMENTWISE


def _build(part: int = 0, parts: int = 1):
    """One graph holding PER_OP samples of every ``parts``-th op from ``part`` on: (feeds,
    outputs, gradients, labels)."""
    feeds, outs, grads, labels = {}, [], [], []
    for info in DB[part::parts]:
        for s in info.samples[:PER_OP] + [s for s in info.samples[PER_OP:] if _special(info, s)]:
            dtype = "float64" if "float64" in info.dtypes else info.dtypes[0]
            args = opdb.cast_args(s.args, dtype)
            with ge.name_scope(f"{info.name}_{s.name}"):
                phs = [ge.placeholder(ge.as_dtype(a.dtype), a.shape, name=f"in{i}") for i, a in enumerate(args)]
                y = info.op(*phs, **s.kwargs)
                feeds.update(zip(phs, args))
                outs.append(y)
                labels.append(f"{info.name}-{s.name}")
                if info.grad and s.grad and dtype == "float64":
                    which = s.grad_args if s.grad_args is not None else \
                        tuple(i for i, a in enumerate(args) if a.dtype.kind == "f")
                    u = opdb._rng("step-" + info.name + s.name).standard_normal(y.shape)
                    gs = ge.gradients(y, [phs[i] for i in which], grad_ys=ge.constant(u))
                    grads.extend((f"{info.name}-{s.name}/d{i}", g) for i, g in zip(which, gs))
    return feeds, outs, grads, labels


# Numba's compile time grows faster than the step's size: four steps of a quarter of the ops
# each compile in a fraction of the time of one (and spread over the suite's workers)
PARTS = 4


@pytest.mark.parametrize("part", range(PARTS))
def test_compiled_step_matches_reference_on_op_database(part):
    feeds, outs, grads, labels = _build(part, PARTS)
    fetch = outs + [g for _, g in grads]
    names = labels + [n for n, _ in grads]
    # the generator must accept every sample: no silent op-by-op fallback here
    generate(fuse(compile_program(fetch, [], list(feeds))), "check")
    with ge.Session(device="reference") as ref, ge.Session(jit="step") as step:
        with np.errstate(all="ignore"):
            want = ref.run(fetch, feeds)
            got = step.run(fetch, feeds)
            exe = next(iter(step._plans.values()))
            assert isinstance(exe, StepExecutable)
            # the first steps of a new plan run this while the step compiles in the background
            # (graphengine.backends.cpu.background): the same bits, or the moment of the switch
            # would show in the numbers
            interim = StepBackend().interim(exe.program, exe.fused)
            assert interim is not None and not isinstance(interim.fn, type(exe.fn))
            fed = {t: feeds[t] for t in exe.program.feeds}
            early = {t: np.array(v) for t, v in interim.run(fed, step.state).items()}
            late = exe.run(fed, step.state)
    assert any(m.startswith("_ge_oploop_") for m in sys.modules), "the interim ran no one-op loop"
    # its loops and kernels ran as NumPy twins (kernels.cpu.pyloops / pykernels) wherever the
    # translator covers them: every Numba function left is one it declines
    g = interim.fn.__globals__
    assert [k for k, v in g.items() if getattr(v, "twin_source", None)], "no loop ran as a NumPy twin"
    for k, v in g.items():
        if isinstance(v, Dispatcher) and k in interim.fn.__code__.co_names:
            mod = v.py_func.__module__
            if mod.startswith("_ge_oploop_"):
                with pytest.raises(pyloops.Untranslatable):
                    pyloops.translate(sys.modules[mod].__ge_source__)
            else:
                assert k not in pykernels.TWINS and k not in pyblas.MATMUL, k
    for t, g in late.items():
        e = early[t]
        assert e.dtype == g.dtype and e.shape == g.shape, t.name
        # every value and zero sign; not a NaN's own sign bit, which follows the operand order
        # of the machine code and which no arithmetic or comparison can see
        num = ~np.isnan(e) if e.dtype.kind in "fc" else None
        assert np.array_equal(e, g, equal_nan=e.dtype.kind in "fc") and (
            e.dtype.kind not in "fc" or np.array_equal(np.signbit(e[num]), np.signbit(g[num]))), t.name
    for name, w, g in zip(names, want, got):
        w, g = np.asarray(w), np.asarray(g)
        assert g.shape == w.shape and g.dtype == w.dtype, (name, g.shape, w.shape, g.dtype, w.dtype)
        if w.dtype.kind in "biu":
            np.testing.assert_array_equal(g, w, err_msg=name)
        else:
            tol = 1e-5 if w.dtype == np.float32 else 1e-9
            np.testing.assert_allclose(g, w, rtol=tol, atol=tol, err_msg=name)

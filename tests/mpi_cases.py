"""Checks that need several MPI ranks, run by tests/test_distributed.py as ``mpiexec -n 2 python
tests/mpi_cases.py [check|fail]`` (one launch for many checks: each launch costs seconds).

``check``: 10 steps of SGD and of Adam on 2 ranks, each fed half of every batch
(``batches(shard=...)``), give the variables one process gets on the whole batches (float64, 1e-10),
through the compiled step and through jit="op"; the compiled step has exactly one allreduce and
stays in Numba's disk cache; allreduce/allgather/broadcast values (also on the GPU backend under
the CUDA simulator when NUMBA_ENABLE_CUDASIM=1); rank-0-only checkpoints.
``fail``: rank 1 raises while rank 0 waits in an allreduce: MPI_Abort must end both.
Prints ``OK <rank>`` at the end of ``check``.
"""
from __future__ import annotations

import glob
import os
import re
import sys
import tempfile

import numpy as np

import graphengine as ge
import graphengine.distributed as hvd
from graphengine.checkpoint import Saver
from graphengine.datasets import batches

B, N_IN, N_HID, N_OUT, ROWS, STEPS = 8, 6, 8, 3, 160, 10


def model(optimizer, distributed: bool):
    """A float64 MLP with fixed initial values; returns (x, y, train_op, variables, grads)."""
    ge.reset_default_graph()
    rng = np.random.default_rng(7)
    x = ge.placeholder(ge.float64, (None, N_IN), name="x")
    y = ge.placeholder(ge.int64, (None,), name="y")
    w1 = ge.Variable(rng.standard_normal((N_IN, N_HID)) * 0.5, name="w1")
    b1 = ge.Variable(np.zeros(N_HID), name="b1")
    w2 = ge.Variable(rng.standard_normal((N_HID, N_OUT)) * 0.5, name="w2")
    b2 = ge.Variable(np.zeros(N_OUT), name="b2")
    logits = ge.nn.relu(x @ w1 + b1) @ w2 + b2
    loss = ge.reduce_mean(ge.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
    opt = hvd.DistributedOptimizer(optimizer) if distributed else optimizer
    gv = opt.compute_gradients(loss)
    train = opt.apply_gradients(gv)
    return x, y, train, [w1, b1, w2, b2], [g for g, _ in gv]


def data():
    rng = np.random.default_rng(3)
    return rng.standard_normal((ROWS, N_IN)), rng.integers(0, N_OUT, ROWS)


def train(make_opt, distributed: bool, **session):
    x, y, train_op, variables, grads = model(make_opt(), distributed)
    xs, ys = data()
    shard = (hvd.rank(), hvd.size()) if distributed else None
    per_rank = B if distributed else B * hvd.size()
    with ge.Session(**session) as sess:
        sess.run(ge.global_variables_initializer())
        feeds = [{x: xb, y: yb} for xb, yb in batches(xs, ys, per_rank, seed=0, shard=shard)]
        assert len(feeds) == STEPS, len(feeds)
        g0 = sess.run(grads, feeds[0])  # fetching the reduced gradients (their own buffers)
        for f in feeds:
            sess.run(train_op, f)
        info = sess.plan_info(train_op, feeds[0])
        return [sess.get_value(v) for v in variables], g0, info


def check_training(comm) -> None:
    for name, make in [("sgd", lambda: ge.train.GradientDescentOptimizer(0.3)),
                       ("adam", lambda: ge.train.AdamOptimizer(0.05))]:
        want, g_want, _ = train(make, False, device="reference")
        for jit in ("step", "op"):
            got, g_got, info = train(make, True, device="cpu", jit=jit)
            assert info["executor"] == ("compiled step" if jit == "step" else "op by op"), info
            for a, b in zip(got + g_got, want + g_want):
                err = float(np.max(np.abs(a - b)))
                assert err <= 1e-10, f"{name} jit={jit}: differs from one process by {err}"
            other = comm.bcast(got, root=0)  # every rank holds rank 0's variables, bit for bit
            assert all(np.array_equal(a, b) for a, b in zip(got, other)), f"{name} jit={jit}: ranks differ"


def check_step_source() -> None:
    """Each compiled training step calls MPI_Allreduce exactly once, and Numba cached it."""
    from graphengine.backends.cpu.step import KERNEL_HASH
    cache = os.environ["GRAPHENGINE_CACHE_DIR"]
    steps = [p for p in glob.glob(os.path.join(cache, "_ge_step_*.py"))
             if "allreduce_inplace" in (src := open(p).read()) and f"kernels {KERNEL_HASH}" in src]
    assert len(steps) >= 2, f"expected the SGD and Adam distributed steps in {cache}, found {steps}"
    for p in steps:
        src = open(p).read()
        body = src[src.index("def step("):]
        calls = re.findall(r"\ballreduce_inplace\(", body)
        assert len(calls) == 1, f"{p}: {len(calls)} allreduce calls in one step"
        mod = os.path.basename(p)[:-3]
        roots = [cache] + [os.environ[k] for k in ("NUMBA_CACHE_DIR",) if os.environ.get(k)]
        index = [f for r in roots for f in glob.glob(os.path.join(r, "**", f"{mod}.step-*.nbi"), recursive=True)]
        assert index, f"Numba did not cache {mod}.step (an MPI call through a ctypes pointer cannot be cached)"


def check_collectives(comm) -> None:
    r, n = hvd.rank(), hvd.size()
    ge.reset_default_graph()
    v = ge.Variable(np.full(3, float(r)), name="v")
    w = ge.get_variable("w", (2, 2), initializer=ge.initializers.glorot_uniform(seed=r))
    step = ge.Variable(np.int64(r), name="count")
    mean = hvd.allreduce(v.value() + 1.0)
    total = hvd.allreduce(v.value() + 1.0, op=hvd.Sum)
    rows = hvd.allgather(ge.constant(np.full((r + 1, 2), float(r))))  # ranks differ in rows
    metric = hvd.allgather(ge.reduce_sum(v.value()))
    # one fused allreduce per dtype: float32 and float64 tensors in one call, integers summed
    mixed = hvd.grouped_allreduce([ge.cast(v.value(), ge.float32), v.value(), ge.constant([r, 1], ge.int64)],
                                  average=False)
    bcast = hvd.broadcast_global_variables(0)
    modes = [("reference", None), ("cpu", "op"), ("cpu", "step")]
    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":  # the GPU backend's kernels, simulated
        modes.append(("gpu", None))
    for dev, jit in modes:
        with ge.Session(device=dev, jit=jit) as sess:
            sess.run(ge.global_variables_initializer())
            np.testing.assert_allclose(sess.run(mean), np.full(3, (n + 1) / 2))
            np.testing.assert_allclose(sess.run(total), np.full(3, n * (n + 1) / 2))
            got = sess.run(rows)
            want = np.concatenate([np.full((k + 1, 2), float(k)) for k in range(n)])
            np.testing.assert_array_equal(got, want)
            np.testing.assert_array_equal(sess.run(metric), [3.0 * k for k in range(n)])
            m32, m64, mint = sess.run(mixed)
            assert (m32.dtype, m64.dtype, mint.dtype) == (np.float32, np.float64, np.int64)
            np.testing.assert_array_equal(m64, np.full(3, n * (n - 1) / 2))
            np.testing.assert_array_equal(m32, m64.astype(np.float32))
            np.testing.assert_array_equal(mint, [n * (n - 1) // 2, n])
            sess.run(bcast)
            vals = [sess.get_value(t) for t in (v, w, step)]
            root = comm.bcast(vals, root=0)
            assert all(np.array_equal(a, b) for a, b in zip(vals, root)), f"{dev}: broadcast left ranks different"
            assert float(vals[0][0]) == 0.0 and int(vals[2]) == 0


def check_checkpoints(comm) -> None:
    r = hvd.rank()
    ge.reset_default_graph()
    ge.Variable(np.arange(3.0), name="v")
    directory = comm.bcast(tempfile.mkdtemp() if r == 0 else None, root=0)
    with ge.Session() as sess:
        sess.run(ge.global_variables_initializer())
        path = sess.save(os.path.join(directory, f"model_by_rank{r}"))
        prefix = Saver().save(sess, os.path.join(directory, f"saver_by_rank{r}"), global_step=5)
    comm.Barrier()
    assert os.path.exists(path) == (r == 0), f"rank {r}: Session.save wrote={os.path.exists(path)}"
    assert os.path.exists(prefix + ".npz") == (r == 0), f"rank {r}: Saver.save wrote {prefix}"


def check_fail() -> None:
    hvd.init()
    x = hvd.allreduce(ge.constant([1.0, 2.0]))
    if hvd.rank() == 1:
        raise ValueError("rank 1 fails on purpose")
    with ge.Session(jit="op") as sess:
        sess.run(x)  # rank 0 waits here for rank 1, which never comes
        sess.run(x)


def main() -> None:
    if sys.argv[1:] == ["fail"]:
        check_fail()
        return
    hvd.init()
    assert hvd.size() == 2, hvd.size()
    comm = hvd._mpi.comm()
    check_collectives(comm)
    check_training(comm)
    check_step_source()
    check_checkpoints(comm)
    # one write per line: print's separate writes of "OK", " ", rank interleave across ranks
    sys.stdout.write(f"OK {hvd.rank()}\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()

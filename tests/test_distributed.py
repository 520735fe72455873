"""graphengine.distributed: multi-rank checks under ``mpiexec -n 2`` (tests/mpi_cases.py, one
launch for many checks), a failing rank ending the job, the example, and what works without
MPI: imports, the single-rank case, data sharding, the NCCL allreducer's host-side logic."""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
import time

import numpy as np
import pytest

from graphengine.datasets import batches
from graphengine.distributed.nccl import NcclAllreducer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HAVE_MPI4PY = importlib.util.find_spec("mpi4py") is not None


def _mpiexec() -> str | None:
    found = shutil.which("mpiexec")
    if found is None:  # the mpich wheel puts it beside this Python's scripts
        cand = os.path.join(sysconfig.get_path("scripts"), "mpiexec")
        found = cand if os.path.exists(cand) else None
    return found


MPIEXEC = _mpiexec()
needs_mpi = pytest.mark.skipif(MPIEXEC is None or not HAVE_MPI4PY,
                               reason='needs mpiexec and mpi4py: pip install -e ".[mpi]"')


@pytest.fixture(scope="module")
def mpi_env(tmp_path_factory):
    """A fresh cache of generated steps for this module's launches (the step-source check reads
    it); the kernels' Numba cache stays the suite's."""
    base = tmp_path_factory.mktemp("mpi")
    env = dict(os.environ, GRAPHENGINE_CACHE_DIR=str(base / "ge"),
               PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]),
               OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", NUMBA_NUM_THREADS="1")
    return env


def _launch(args: list[str], env: dict, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run([MPIEXEC, "-n", "2", sys.executable, *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


@needs_mpi
def test_two_ranks_match_one_process_and_collectives(mpi_env):
    env = dict(mpi_env, NUMBA_ENABLE_CUDASIM="1")  # also the CUDA kernels, on the simulator
    r = _launch([os.path.join(ROOT, "tests", "mpi_cases.py"), "check"], env, timeout=300)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-4000:]
    assert "OK 0" in r.stdout and "OK 1" in r.stdout, out[-4000:]


@needs_mpi
def test_a_failing_rank_ends_every_rank_with_its_error(mpi_env):
    start = time.monotonic()
    r = _launch([os.path.join(ROOT, "tests", "mpi_cases.py"), "fail"], mpi_env, timeout=120)
    took = time.monotonic() - start
    out = r.stdout + r.stderr
    assert r.returncode != 0, out[-4000:]
    assert "rank 1 fails on purpose" in out and "aborting all 2 ranks" in out, out[-4000:]
    assert took < 60, f"the job took {took:.0f} s to end after rank 1 raised"


@needs_mpi
@pytest.mark.slow
def test_distributed_example_trains_on_two_ranks(mpi_env):
    # as users run it: background compiles on (a plan with collectives compiles in the
    # foreground, since importing its step initializes MPI; the eval plan's child must not)
    env = {k: v for k, v in mpi_env.items() if k != "GRAPHENGINE_BACKGROUND_COMPILE"}
    r = _launch([os.path.join(ROOT, "examples", "distributed_mlp.py"), "10"], env, timeout=300)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-4000:]
    acc = float(out.split("test accuracy")[1].split()[0])
    assert "2 rank(s)" in out and acc >= 0.9, out[-2000:]


def _python(code: str, **env: str) -> subprocess.CompletedProcess:
    e = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]), **env)
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=e, capture_output=True, text=True,
                          timeout=120)


def test_without_mpi_everything_else_works_and_distributed_says_how_to_install():
    code = """
import sys
import numpy as np, graphengine as ge, kernels.cpu, graphengine.distributed as hvd
x = ge.placeholder(ge.float32, (None, 2))
w = ge.Variable(np.ones((2, 2), np.float32))
with ge.Session() as s:  # a compiled step, with every CPU kernel and step emitter registered
    s.run(ge.global_variables_initializer())
    assert s.run(ge.reduce_sum(x @ w), {x: np.ones((3, 2), np.float32)}) == 12
    assert s.plan_info(ge.reduce_sum(x @ w), {x: np.ones((3, 2), np.float32)})["executor"] == "compiled step"
loaded = [m for m in sys.modules if m.startswith(("mpi4py", "numba_mpi")) or m == "kernels.cpu.mpi_lib"]
assert not loaded, loaded
sys.modules["mpi4py"] = None  # as if mpi4py were not installed
for call in (hvd.init, hvd.size, lambda: hvd.allreduce(x)):
    try:
        call()
    except hvd.MPIUnavailableError as e:
        assert 'pip install -e ".[mpi]"' in str(e), e
    else:
        raise AssertionError("no error without MPI")
print("fine")
"""
    r = _python(code)
    assert r.returncode == 0 and "fine" in r.stdout, r.stdout + r.stderr


@pytest.mark.skipif(not HAVE_MPI4PY, reason='needs mpi4py: pip install -e ".[mpi]"')
def test_one_rank_without_mpiexec():
    code = """
import numpy as np, graphengine as ge, graphengine.distributed as hvd
hvd.init()
assert (hvd.rank(), hvd.size(), hvd.local_rank(), hvd.local_size()) == (0, 1, 0, 1)
w = ge.Variable(np.ones(3), name="w")
opt = hvd.DistributedOptimizer(ge.train.GradientDescentOptimizer(0.1))
train = opt.minimize(ge.reduce_sum(w * w))
assert not [op for op in ge.get_default_graph().get_operations() if op.type == "allreduce_fused"]
y = hvd.allreduce(w.value() * 2.0)
with ge.Session(jit="op") as s:
    s.run(ge.global_variables_initializer())
    s.run(hvd.broadcast_global_variables(0))
    s.run(train)
    np.testing.assert_allclose(s.run(y), np.full(3, 1.6))
    np.testing.assert_allclose(s.run(hvd.allgather(ge.reduce_sum(w))), [2.4])
try:
    hvd.allreduce(ge.constant([1, 2], ge.int64))  # a mean of integers
except ge.DTypeError as e:
    assert "average=False" in str(e), e
else:
    raise AssertionError("averaging integers should fail at build time")
print("fine")
"""
    r = _python(code)
    assert r.returncode == 0 and "fine" in r.stdout, r.stdout + r.stderr


@pytest.mark.skipif(not HAVE_MPI4PY, reason='needs mpi4py: pip install -e ".[mpi]"')
def test_another_mpis_launcher_is_an_error_not_n_lone_copies():
    r = _python("import graphengine.distributed as hvd\nhvd.init()", OMPI_COMM_WORLD_SIZE="2")
    assert r.returncode != 0 and "started as one of 2 ranks" in r.stderr, r.stderr[-2000:]


def test_shards_partition_each_epoch_like_one_process_with_the_whole_batch():
    x = np.arange(23 * 2).reshape(23, 2)
    y = np.arange(23)
    whole = [yb for _, yb in batches(x, y, 3 * 4, seed=5)]
    shards = [[yb for _, yb in batches(x, y, 3, seed=5, shard=(r, 4))] for r in range(4)]
    assert len({len(s) for s in shards}) == 1  # every rank runs the same number of steps
    for k, per_rank in enumerate(zip(*shards)):
        together = set(np.concatenate(per_rank).tolist())
        assert together <= set(whole[k].tolist()) and (k > 0 or together == set(whole[0].tolist()))
    assert sum(len(b) for s in shards for b in s) == 20  # 23 % 4 rows left out this epoch
    with pytest.raises(ValueError, match="shard"):
        next(batches(x, y, 3, shard=(4, 4)))


def _fake_ranks(n: int, others: list) -> NcclAllreducer:
    """An allreducer over host arrays whose 'other ranks' contribute fixed buffers."""
    def reduce_sum(buf):
        for o in others:
            buf += o
    return NcclAllreducer(xp=np, reduce_sum=reduce_sum, size=n)


def test_nccl_allreducer_packs_averages_and_unpacks_on_the_host():
    grads = [np.arange(6.0).reshape(2, 3), np.array([10.0]), np.ones((2, 2, 2))]
    offs, total = NcclAllreducer.layout([g.shape for g in grads])
    assert (offs, total) == ([0, 6, 7], 15)
    other = [np.full(15, 0.5)]  # the second rank's buffer, already scaled by 1/2
    r = _fake_ranks(2, other)
    out = r.allreduce(grads)
    for g, o in zip(grads, out):
        assert o.shape == g.shape
        np.testing.assert_allclose(o, g / 2 + 0.5)
        assert np.shares_memory(o, r.buffer)  # views of the one fusion buffer: no unpacking copy
    summed = _fake_ranks(2, [np.full(15, 1.0)]).allreduce(grads, average=False)
    np.testing.assert_allclose(summed[1], [11.0])
    with pytest.raises(TypeError, match="one dtype"):
        _fake_ranks(2, []).pack([np.ones(2, np.float32), np.ones(2)])


def test_nccl_allreduce_on_a_gpu():
    cupy = pytest.importorskip("cupy", reason="the NCCL path needs CuPy (pip install -e '.[gpu]') and a GPU")
    try:
        from cupy.cuda import nccl  # noqa: F401
        cupy.cuda.runtime.getDeviceCount()
    except Exception as e:  # noqa: BLE001
        pytest.skip(f"no GPU with NCCL here ({e}); the host-side logic is tested above")
    if not HAVE_MPI4PY:
        pytest.skip('the NCCL communicator is set up over MPI: pip install -e ".[mpi]"')
    code = """
import cupy as cp, numpy as np
from graphengine.distributed.nccl import NcclAllreducer
r = NcclAllreducer(xp=cp)
out = r.allreduce([cp.arange(6.0).reshape(2, 3), cp.ones(4)])
np.testing.assert_allclose(out[0].get(), np.arange(6.0).reshape(2, 3))
print("fine")
"""
    r = _python(code)
    assert r.returncode == 0 and "fine" in r.stdout, r.stdout + r.stderr

"""kernels/cpu/jitstart: cached Numba functions load without the compiler's refresh, run as
before, and compiling afterwards still sees every registry. Fresh processes: the point is the
first cache load of a process."""
import json
import os
import subprocess
import sys
import textwrap

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

MODULE = textwrap.dedent("""
    import numpy as np
    import numba

    @numba.njit(cache=True)
    def work(x, keys):
        y = np.empty_like(x)          # NRT allocation
        for i in range(x.size):
            y[i] = np.exp(x[i]) + x[i] ** 2
        d = {keys[0]: 0}              # typed dict: hashing, NRT
        for k in keys:
            d[k] = d.get(k, 0) + 1
        s = 0
        for k in d:
            s += d[k] * hash(k) % 7
        return y, s, np.dot(x[:4].reshape(2, 2), x[4:8].reshape(2, 2))

    @numba.vectorize(cache=True)
    def vadd(a, b):                   # a DUFunc: its builder lowers a wrapper after the load
        return a + b

    @numba.njit(cache=True)
    def fails(x):
        if x < 0:
            raise ValueError("negative input")
        return x
""")

PROBE = textwrap.dedent("""
    import json, sys
    import numpy as np
    sys.path.insert(0, sys.argv[1])
    from kernels.cpu.blas import load
    load()
    from kernels.cpu import jitstart
    installed = jitstart.install()
    import cachedmod
    x = np.linspace(-1, 1, 10)
    y, s, m = cachedmod.work(x, np.array([3, 1, 3, 2, 3]))
    try:
        cachedmod.fails(-1.0)
        err = None
    except ValueError as e:
        err = str(e)
    refreshed = "numba.np.arraymath" in sys.modules
    v = cachedmod.vadd(np.arange(3), np.arange(3)).tolist()
    hits = sum(cachedmod.work.stats.cache_hits.values())
    import numba
    @numba.njit
    def fresh(a):                     # a compile after the lazy loads, calling a loaded function
        return np.sum(cachedmod.work(a, np.array([1]))[0]) + np.linalg.norm(a)
    print(json.dumps({"installed": installed, "y": y.tolist(), "s": int(s), "m": m.tolist(),
                      "err": err, "refreshed_before_compile": refreshed, "v": v, "hits": hits,
                      "fresh": float(fresh(x))}))
""")


def _probe(tmp_path, lazy: str) -> dict:
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "numba"), GRAPHENGINE_LAZY_NUMBA_INIT=lazy,
               PYTHONPATH=os.pathsep.join([ROOT, str(tmp_path)]))
    p = subprocess.run([sys.executable, "-c", PROBE, ROOT], capture_output=True, text=True, env=env,
                       timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(p.stdout.strip().splitlines()[-1])


@pytest.fixture()
def cached_module(tmp_path):
    (tmp_path / "cachedmod.py").write_text(MODULE)
    first = _probe(tmp_path, "0")   # compiles and writes the cache
    assert first["hits"] == 0 and first["installed"] is False
    return tmp_path, first


def test_cached_functions_load_without_the_refresh_and_give_the_same_results(cached_module):
    tmp_path, first = cached_module
    lazy = _probe(tmp_path, "1")
    assert lazy["installed"] is True and lazy["hits"] == 1
    assert lazy["refreshed_before_compile"] is False   # the registries' imports did not run
    for k in ("y", "s", "m", "err", "fresh", "v"):
        assert lazy[k] == first[k], k
    assert lazy["err"] == "negative input" and lazy["v"] == [0, 2, 4]
    import numpy as np
    x = np.linspace(-1, 1, 10)
    np.testing.assert_allclose(lazy["y"], np.exp(x) + x ** 2, rtol=1e-15)
    np.testing.assert_allclose(lazy["m"], x[:4].reshape(2, 2) @ x[4:8].reshape(2, 2), rtol=1e-15)


def test_turned_off_numba_loads_as_it_does_by_itself(cached_module):
    tmp_path, first = cached_module
    plain = _probe(tmp_path, "0")
    assert plain["installed"] is False and plain["hits"] == 1
    assert plain["refreshed_before_compile"] is True
    assert {k: plain[k] for k in ("y", "s", "m", "err", "fresh")} == \
        {k: first[k] for k in ("y", "s", "m", "err", "fresh")}


def test_install_and_uninstall_in_process():
    from numba.core import caching
    from numba.core.dispatcher import Dispatcher

    from kernels.cpu import jitstart
    saved = caching.Cache.load_overload, Dispatcher.compile, jitstart._STATE["installed"]
    try:
        jitstart.uninstall()
        base, compile_base = caching.Cache.load_overload, Dispatcher.compile
        assert jitstart.install() is True
        assert caching.Cache.load_overload is not base and Dispatcher.compile is not compile_base
        assert caching.Cache.load_overload.numba_original is base
        assert jitstart.install() is True          # once
        assert caching.Cache.load_overload.numba_original is base
        jitstart.uninstall()
        assert caching.Cache.load_overload is base and Dispatcher.compile is compile_base
    finally:
        caching.Cache.load_overload, Dispatcher.compile, jitstart._STATE["installed"] = saved

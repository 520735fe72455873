"""The generated-code cache (kernels/codegen.py): verified content, private directories only,
regeneration of bad files, an in-memory fallback, thread- and process-safe loading."""
import os
import stat
import subprocess
import sys
import threading
import warnings

import pytest

from kernels import codegen


@pytest.fixture
def cache(tmp_path, monkeypatch):
    d = tmp_path / "cache"
    monkeypatch.setenv("GRAPHENGINE_CACHE_DIR", str(d))
    codegen._WARNED.clear()
    return d


def _src(tag: str, body: str = "") -> str:
    return f"VALUE = {tag!r}\n{body}"


def test_the_file_is_named_by_the_content_hash_and_executes_the_given_text(cache):
    mod = codegen.load_source("t", _src("a1"))
    assert mod.VALUE == "a1" and os.path.basename(mod.__file__)[len("_ge_t_"):-3] in mod.__name__
    assert open(mod.__file__).read() == _src("a1")
    assert stat.S_IMODE(os.stat(cache).st_mode) & 0o077 == 0  # created private


def test_a_tampered_cached_file_never_runs_and_is_rewritten(cache):
    src = _src("a2")
    mod = codegen.load_source("t", src)
    path = mod.__file__
    del sys.modules[mod.__name__]  # as in a new process
    with open(path, "a") as f:
        f.write("raise SystemExit('planted code ran')\n")
    with pytest.warns(RuntimeWarning, match="does not match its content hash"):
        again = codegen.load_source("t", src)
    assert again.VALUE == "a2" and open(path).read() == src


def test_a_truncated_cached_file_is_regenerated(cache):
    src = _src("a3", "def f():\n    return 42\n")
    mod = codegen.load_source("t", src)
    del sys.modules[mod.__name__]
    with open(mod.__file__, "r+") as f:
        f.truncate(10)
    with pytest.warns(RuntimeWarning, match="regenerating"):
        assert codegen.load_source("t", src).f() == 42
    assert open(mod.__file__).read() == src


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes to read-only directories")
def test_a_read_only_directory_falls_back_to_memory(cache):
    cache.mkdir(mode=0o500)
    with pytest.warns(RuntimeWarning, match="without a disk cache"):
        mod = codegen.load_source("t", _src("a4", "import numba\n@numba.njit(cache=True)\ndef f(x):\n"
                                                  "    return x + 1\n"))
    assert mod.f(1) == 2 and not codegen.numba_cache_ok(mod)


def test_a_read_only_directory_falls_back_to_memory_even_as_root(cache, monkeypatch):
    cache.mkdir(mode=0o700)

    def refuse(*a, **k):
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(codegen.tempfile, "mkstemp", refuse)
    with pytest.warns(RuntimeWarning, match="cannot write"):
        mod = codegen.load_source("t", _src("a5", "import numba\n@numba.njit(cache=True)\ndef f(x):\n"
                                                  "    return x * 3\n"))
    assert mod.f(2) == 6 and not os.listdir(cache)


@pytest.mark.parametrize("mode", [0o777, 0o770, 0o1777])
def test_a_directory_others_can_write_is_refused(cache, mode):
    cache.mkdir()
    os.chmod(cache, mode)
    with pytest.warns(RuntimeWarning, match="writable by group or others"):
        assert codegen.cache_dir() is None
    mod = codegen.load_source("t", _src(f"a6-{mode}"))
    assert mod.VALUE == f"a6-{mode}" and not codegen.numba_cache_ok(mod) and not os.listdir(cache)


def test_an_unusable_path_has_no_shared_fallback(tmp_path, monkeypatch):
    f = tmp_path / "a-file"
    f.write_text("")
    monkeypatch.setenv("GRAPHENGINE_CACHE_DIR", str(f / "sub"))
    codegen._WARNED.clear()
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        assert codegen.cache_dir() is None
    assert any("without a disk cache" in str(x.message) for x in w)
    assert codegen.load_source("t", _src("a7")).VALUE == "a7"


def test_threads_loading_new_modules_at_once_see_only_complete_modules(cache):
    # a slow module body: another thread must not get the module before it has executed
    srcs = [_src(f"thr{i}", "import time\ntime.sleep(0.02)\nDONE = True\n") for i in range(8)]
    errors, barrier = [], threading.Barrier(16)

    def work(i):
        try:
            barrier.wait()
            mod = codegen.load_source("thr", srcs[i % 8])
            assert mod.DONE and mod.VALUE == f"thr{i % 8}"
        except Exception as e:  # noqa: BLE001
            errors.append(e)
    ts = [threading.Thread(target=work, args=(i,)) for i in range(16)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors
    assert not [n for n in os.listdir(cache) if n.endswith(".tmp")]


def test_threads_compiling_different_new_graphs_at_once(cache):
    import numpy as np

    import graphengine as ge
    results, errors = {}, []

    def work(i):
        try:
            g = ge.Graph()
            with g.as_default():
                x = ge.placeholder(ge.float32, (None,))
                y = ge.nn.leaky_relu(x, alpha=0.1 + i / 100)  # a new kernel source per thread
            with ge.Session(graph=g, jit="op") as s:
                results[i] = s.run(y, {x: np.array([-1.0, 2.0], np.float32)})
        except Exception as e:  # noqa: BLE001
            errors.append(e)
    ts = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors
    for i, r in results.items():
        np.testing.assert_allclose(r, [-(0.1 + i / 100), 2.0], rtol=1e-6)


def test_two_processes_writing_the_same_new_modules_at_once(cache):
    code = ("import sys; from kernels import codegen\n"
            "for i in range(40):\n"
            "    m = codegen.load_source('proc', 'X = %d\\n' % i + 'Y = \"' + 'y' * 20000 + '\"\\n')\n"
            "    assert m.X == i and len(m.Y) == 20000\n"
            "print('ok')\n")
    env = dict(os.environ, PYTHONWARNINGS="error::RuntimeWarning")
    procs = [subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0 and out.strip() == "ok", err
    assert len([n for n in os.listdir(cache) if n.endswith(".py")]) == 40
    assert not [n for n in os.listdir(cache) if n.endswith(".tmp")]


def test_per_op_kernels_live_in_the_kernel_cache_dir(tmp_path, monkeypatch):
    """Per-op generated kernels ("ew", "oploop") go to GRAPHENGINE_KERNEL_CACHE_DIR (default:
    kernels/ inside the cache dir), graph-level code to GRAPHENGINE_CACHE_DIR."""
    from kernels import codegen
    monkeypatch.setenv("GRAPHENGINE_CACHE_DIR", str(tmp_path / "ge"))
    monkeypatch.delenv("GRAPHENGINE_KERNEL_CACHE_DIR", raising=False)
    assert codegen.kernel_cache_dir() == str(tmp_path / "ge" / "kernels")
    monkeypatch.setenv("GRAPHENGINE_KERNEL_CACHE_DIR", str(tmp_path / "k"))
    tag = str(tmp_path).replace("/", "_")
    op = codegen.load_source("oploop", f"X = 1  # {tag}\n")
    graph = codegen.load_source("loop", f"X = 2  # {tag}\n")
    assert os.path.dirname(op.__file__) == str(tmp_path / "k")
    assert os.path.dirname(graph.__file__) == str(tmp_path / "ge")
    assert oct(os.stat(tmp_path / "k").st_mode & 0o777) == "0o700"

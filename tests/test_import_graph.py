"""The import graph points one way: ``kernels/`` is a leaf library under the op model, and
``graphengine`` reaches kernels and backends only through the documented lazy backend loading.

Every module under graphengine/ and kernels/ is parsed with ``ast`` (nothing is imported). An
edge ``a -> b`` is an import in ``a`` of the module ``b`` (``from pkg import name`` counts as an
import of ``pkg.name`` when that is a module, else of ``pkg``); the implicit import of a parent
package's ``__init__`` is not an edge. Module-level edges are those Python runs at import time
(``if TYPE_CHECKING:`` blocks excluded); function-level ("lazy") edges sit inside a function.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("graphengine", "kernels")

# What kernels/ may import from graphengine: the op model layer, plus the communicator loaders
# the collective kernels call (mpi4py/NCCL wrappers that import only errors and ops).
KERNELS_MAY_IMPORT = ("graphengine.ops", "graphengine.errors", "graphengine.dtypes",
                      "graphengine.distributed._mpi", "graphengine.distributed.nccl")
# Never from kernels/, at module or function level.
KERNELS_FORBIDDEN = ("graphengine.runtime", "graphengine.compiler", "graphengine.graph",
                     "graphengine.backends", "graphengine.session")

# The lazy imports by which graphengine (outside graphengine/backends, which sits above kernels/)
# reaches kernels/ and the backends: the backend loading. They are lazy so that
# ``import graphengine`` never imports Numba or CuPy.
LAZY_BACKEND_LOADING = {
    # make_backend: the kernel registry (op-by-op backends), the CPU step and the GPU backend,
    # the BLAS library the CPU kernels call, and Numba's cache loads without the compiler's set-up
    "graphengine.runtime.backends": {"kernels.registry", "graphengine.backends.cpu.step",
                                     "graphengine.backends.cuda.backend", "kernels.cpu.blas",
                                     "kernels.cpu.jitstart"},   # (blas: OpenBLAS or MKL, kernels.cpu.mkl)
    # plans holding string tensors: op by op on the wrapped backend's kernels
    "graphengine.runtime.hoststrings": {"kernels.registry", "graphengine.backends.cuda.backend"},
}


def _modules(root: Path = ROOT) -> dict[str, tuple[Path, bool]]:
    mods = {}
    for pkg in PACKAGES:
        for p in sorted((root / pkg).rglob("*.py")):
            parts = list(p.relative_to(root).with_suffix("").parts)
            is_pkg = parts[-1] == "__init__"
            mods[".".join(parts[:-1] if is_pkg else parts)] = (p, is_pkg)
    return mods


def import_edges(root: Path = ROOT, missing: list | None = None) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(module-level edges, function-level edges) between the modules of graphengine and kernels;
    imports of graphengine/kernels modules that do not exist are appended to ``missing``."""
    mods = _modules(root)

    def resolve(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    top: dict[str, set[str]] = {m: set() for m in mods}
    lazy: dict[str, set[str]] = {m: set() for m in mods}
    for m, (path, is_pkg) in mods.items():
        base = m if is_pkg else m.rpartition(".")[0]

        def targets(node: ast.Import | ast.ImportFrom) -> list[str]:
            if isinstance(node, ast.Import):
                return [a.name for a in node.names]
            mod = node.module or ""
            if node.level:
                pkg = base.split(".")[:len(base.split(".")) - node.level + 1]
                mod = ".".join(pkg + ([node.module] if node.module else []))
            if missing is not None and mod.split(".")[0] in PACKAGES and mod not in mods:
                missing.append(f"{m}: from {'.' * node.level}{node.module or ''} ({mod})")
            return [f"{mod}.{a.name}" if f"{mod}.{a.name}" in mods else mod for a in node.names]

        def walk(node: ast.AST, in_function: bool) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                    continue
                if isinstance(child, (ast.Import, ast.ImportFrom)):
                    for t in targets(child):
                        r = resolve(t) if t.split(".")[0] in PACKAGES else None
                        if r is not None and r != m:
                            (lazy if in_function else top)[m].add(r)
                walk(child, in_function or isinstance(
                    child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

        walk(ast.parse(path.read_text(), str(path)), False)
    return top, lazy


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out = []
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges.get(start, ()))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(edges.get(w, ())))))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def _under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def kernels_violations(root: Path = ROOT) -> list[str]:
    top, lazy = import_edges(root)
    bad = []
    for kind, edges in (("module-level", top), ("function-level", lazy)):
        for m, ts in sorted(edges.items()):
            if not _under(m, ("kernels",)):
                continue
            for t in sorted(ts):
                if _under(t, ("graphengine",)) and (_under(t, KERNELS_FORBIDDEN)
                                                    or not _under(t, KERNELS_MAY_IMPORT)):
                    bad.append(f"{m} -> {t} ({kind})")
    return bad


def lazy_violations(root: Path = ROOT) -> list[str]:
    _, lazy = import_edges(root)
    bad = []
    for m, ts in sorted(lazy.items()):
        if not _under(m, ("graphengine",)) or _under(m, ("graphengine.backends",)):
            continue
        for t in sorted(ts):
            if _under(t, ("kernels", "graphengine.backends")) and t not in LAZY_BACKEND_LOADING.get(m, ()):
                bad.append(f"{m} -> {t}")
    return bad


def test_every_import_names_a_module_that_exists():
    """A module moved between packages keeps no stale relative import (``from .x import y``
    where ``x`` stayed behind)."""
    missing: list[str] = []
    import_edges(missing=missing)
    assert missing == []


def test_kernels_import_only_the_op_model():
    assert kernels_violations() == []


def test_module_level_import_graph_has_no_cycles():
    top, _ = import_edges()
    assert cycles(top) == []


def test_lazy_imports_into_kernels_and_backends_are_the_backend_loading():
    assert lazy_violations() == []


def test_no_cycle_through_kernels_apart_from_backend_loading():
    """With every import (lazy ones too) except the documented backend loading, no circle joins
    two of the layers graphengine (the core), graphengine/backends and kernels/: arrows between
    layers point one way. (Lazy circles inside one layer are that layer's business.)"""
    top, lazy = import_edges()
    edges = {m: top[m] | {t for t in lazy[m] if t not in LAZY_BACKEND_LOADING.get(m, ())}
             for m in top}

    def layer(m: str) -> str:
        return next(p for p in ("kernels", "graphengine.backends", "graphengine") if _under(m, (p,)))
    across = [c for c in cycles(edges) if len({layer(m) for m in c}) > 1]
    assert across == []


def test_the_checks_catch_a_runtime_import_in_kernels(tmp_path):
    """The checks are live: a kernels module importing the runtime, closing a circle through the
    backend loading, fails them."""
    for pkg in PACKAGES:
        (tmp_path / pkg).mkdir()
        (tmp_path / pkg / "__init__.py").write_text("")
    (tmp_path / "graphengine" / "runtime").mkdir()
    (tmp_path / "graphengine" / "runtime" / "__init__.py").write_text("")
    (tmp_path / "graphengine" / "runtime" / "executor.py").write_text("X = 1\n")
    (tmp_path / "graphengine" / "runtime" / "backends.py").write_text(
        "def load():\n    from kernels.step import B\n    from kernels.other import C\n")
    (tmp_path / "kernels" / "step.py").write_text("from graphengine.runtime.executor import X\n")
    (tmp_path / "kernels" / "other.py").write_text("from .step import X\n")
    assert kernels_violations(tmp_path) == [
        "kernels.step -> graphengine.runtime.executor (module-level)"]
    assert lazy_violations(tmp_path) == ["graphengine.runtime.backends -> kernels.other",
                                         "graphengine.runtime.backends -> kernels.step"]

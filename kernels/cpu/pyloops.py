"""NumPy twins of the generated one-op loops, for the interim step: the same bits, no compile.

A new plan's interim step (``graphengine.backends.cpu.background``) calls one shared loop
helper per op (``kernels.cpu.outline``: ``_ge_oploop_*`` modules, one ``@njit`` function
each). Cold, each costs 0.1-0.7 s of Numba compile time before the first step can finish.
``twin(source)`` translates such a helper's source into a NumPy function with the same
signature that computes the same values, bit for bit, without compiling anything:

* the loop nest's variables become array axes: ``x[i0, (i1 if x.shape[1] != 1 else 0)]``
  reads a view of ``x`` (``0`` reads a length-1 slice, which broadcasts; ``E + i`` the part from
  ``E`` on, as concat and slicing copies index; ``x[i1, i0]`` a transposed view), stores write
  the whole view (the last iteration's value where the loop writes one element repeatedly);
* scalar expressions become the same array expressions: ``a if c else b`` is ``np.where``,
  ``and``/``or``/``not`` are the logical ufuncs, ``math.sqrt`` is ``np.sqrt`` (both correctly
  rounded); Python number literals become NumPy scalars (``np.int64``/``np.float64``), so
  NumPy's type promotion is Numba's (float32 with a float literal is float64 in both);
* ``acc[...] += x`` (a reduction) accumulates sequentially, in loop order, in the
  accumulator's dtype: ``np.add.accumulate`` when the sum's dtype is the accumulator's, a
  loop over the reduced elements otherwise (each step rounded to the accumulator as Numba
  stores it).

Only what these rules cover is translated: a helper calling anything else (libm or SIMD
transcendentals, ``**``) returns None and the interim keeps its compiled loop.
tests/test_pyloops.py compares every twin with its compiled loop, bit for bit, and
tests/test_step_opdb.py runs the whole op database's interim step on them.
"""
from __future__ import annotations

import ast
import hashlib
import logging
import math

import numpy as np

log = logging.getLogger("graphengine.compile")

_CACHE: dict[str, object] = {}
_FULL = slice(None)
# math functions whose NumPy ufunc gives the same bits (correctly rounded, or exact)
_MATH = {"sqrt": "np.sqrt", "copysign": "np.copysign", "floor": "np.floor", "ceil": "np.ceil",
         "isnan": "np.isnan", "isinf": "np.isinf", "fabs": "np.fabs"}
_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//",
           ast.Mod: "%"}


class Untranslatable(Exception):
    pass


# ---- run-time helpers of the twins ---------------------------------------------------------
def _last(v, shape, spec):
    """``v`` broadcast to the loop's ``shape``, reduced to what a store through ``spec`` (the
    trailing axes) leaves: the last iteration along axes the store does not index."""
    v = np.broadcast_to(v, shape)
    lead = len(shape) - len(spec)
    idx = [-1] * lead + [_FULL if s else slice(-1, None) for s in spec]
    return v[tuple(idx)]


def _store(view, spec, v, shape):
    """A store through ``view`` (the target indexed by ``spec``) in every loop iteration."""
    if 0 in shape:
        return
    view[...] = _last(v, shape, spec)


def _by_target(v, shape, spec):
    """``v`` broadcast to the loop's ``shape``, as (the target's elements..., the iterations
    that reach each, in loop order)."""
    rank = len(shape)
    lead = rank - len(spec)
    red = [k for k in range(rank) if k < lead or not spec[k - lead]]
    v = np.broadcast_to(v, shape)
    if red:
        v = np.moveaxis(v, red, list(range(rank - len(red), rank)))
    kept = v.shape[:rank - len(red)]
    return v.reshape(kept + (int(np.prod([shape[k] for k in red], dtype=np.int64)),))


def _accumulate(cur, v, shape, spec):
    """``cur`` (the target's view, or a scalar) plus every loop iteration's ``v``, in loop order,
    each sum rounded to ``cur``'s dtype; the new value in ``cur``'s shape."""
    cur = np.asarray(cur)
    v = _by_target(v, shape, spec)
    c = cur.reshape(v.shape[:-1])
    dt = np.result_type(c, v)
    if dt == c.dtype:
        out = np.add.accumulate(np.concatenate([c[..., None], v.astype(dt)], axis=-1), axis=-1)[..., -1]
    else:
        out = c
        for k in range(v.shape[-1]):
            out = (out + v[..., k]).astype(c.dtype)
    return out.reshape(cur.shape)


_HELPERS = {"np": np, "math": math, "_store": _store, "_accumulate": _accumulate, "_by_target": _by_target}


# ---- the translator --------------------------------------------------------------------------


class _Tr:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.ctx: list[tuple[str, str]] = []  # (loop variable, extent source), outermost first
        self.shapes = 0

    def emit(self, s: str, depth: int) -> None:
        self.lines.append("    " * depth + s)

    # indices -----------------------------------------------------------------------------
    def spec(self, node: ast.Subscript) -> tuple | None:
        """Per index position: True (a loop axis), False (index 0) or the source of an offset
        ``E`` (index ``E + i``: the loop axis from E on); None when the index uses no loop
        variable (a scalar read, kept as it is)."""
        elts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        names = [v for v, _ in self.ctx]
        if not any(isinstance(n, ast.Name) and n.id in names for e in elts for n in ast.walk(e)):
            return None
        R, r = len(names), len(elts)
        if r > R:
            raise Untranslatable("more indices than loops")
        out = []
        for d, e in enumerate(elts):
            want = names[R - r + d]
            if isinstance(e, ast.Name) and e.id == want:
                out.append(True)
            elif isinstance(e, ast.Constant) and e.value == 0 and type(e.value) is int:
                out.append(False)
            elif (isinstance(e, ast.IfExp) and isinstance(e.body, ast.Name) and e.body.id == want
                  and isinstance(e.orelse, ast.Constant) and e.orelse.value == 0
                  and isinstance(e.test, ast.Compare) and isinstance(e.test.ops[0], ast.NotEq)):
                out.append(True)   # broadcast at run time: a length-1 axis broadcasts the same
            elif (isinstance(e, ast.BinOp) and isinstance(e.op, ast.Add) and isinstance(e.right, ast.Name)
                  and e.right.id == want and not self.uses_ctx(e.left)):
                out.append(ast.unparse(e.left))   # a copy into or out of a part (concat, slices)
            else:
                raise Untranslatable(f"index {ast.unparse(e)}")
        return tuple(out)

    def uses_ctx(self, n: ast.AST) -> bool:
        names = {v for v, _ in self.ctx}
        return any(isinstance(m, ast.Name) and m.id in names for m in ast.walk(n))

    def permuted(self, node: ast.Subscript) -> str | None:
        """``a[i1, i0]``: distinct loop variables, the innermost ones, in another order (a
        transpose): its view as source, axes in loop order; None for other indices."""
        elts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        names = [v for v, _ in self.ctx]
        ids = [e.id if isinstance(e, ast.Name) else None for e in elts]
        if None in ids or len(set(ids)) != len(ids) or sorted(names.index(i) for i in ids if i in names) \
                != list(range(len(names) - len(ids), len(names))) or not all(i in names for i in ids):
            return None
        perm = sorted(range(len(ids)), key=lambda d: names.index(ids[d]))
        if perm == sorted(perm):
            return None   # in loop order: an ordinary view
        return f"np.transpose({node.value.id}, {tuple(perm)!r})"

    def index(self, name: str, spec: tuple) -> str:
        """Source of the view of ``name`` that ``spec`` (aligned to the innermost loops) reads."""
        ext = [e for _, e in self.ctx][len(self.ctx) - len(spec):]
        parts = [":" if s is True else "0:1" if s is False else f"({s}):({s}) + ({n})" for s, n in zip(spec, ext)]
        return f"{name}[{', '.join(parts)}]"

    @staticmethod
    def flags(spec: tuple) -> tuple:
        return tuple(s is not False for s in spec)

    def target_spec(self, t: ast.Subscript) -> tuple:
        """``spec`` of an assignment target inside the loops; an index of constant zeros
        (one element written, or accumulated into, by every iteration) is all False."""
        sp = self.spec(t)
        if sp is not None:
            return sp
        elts = t.slice.elts if isinstance(t.slice, ast.Tuple) else [t.slice]
        if not all(isinstance(e, ast.Constant) and type(e.value) is int and e.value == 0 for e in elts):
            raise Untranslatable(f"target {ast.unparse(t)}")
        if len(elts) > len(self.ctx):
            raise Untranslatable("more indices than loops")
        return (False,) * len(elts)

    def shape(self) -> str:
        return "(" + "".join(f"{ext}, " for _, ext in self.ctx) + ")"

    # expressions ---------------------------------------------------------------------------
    def expr(self, n: ast.AST) -> str:
        vec = bool(self.ctx)
        if isinstance(n, ast.Constant):
            v = n.value
            if vec and type(v) is int:
                return f"np.int64({v!r})"
            if vec and type(v) is float:
                return f"np.float64({v!r})"
            return repr(v)
        if isinstance(n, ast.Name):
            if vec and n.id in [v for v, _ in self.ctx]:
                raise Untranslatable("a loop variable as a value")
            return n.id
        if isinstance(n, ast.Attribute):
            src = ast.unparse(n)
            if src in ("math.inf", "math.nan", "math.pi", "math.e"):
                return f"np.float64({src})" if vec else src
            if isinstance(n.value, ast.Name) and n.value.id == "np":
                return src
            return f"{self.expr(n.value)}.{n.attr}"
        if isinstance(n, ast.Subscript):
            if isinstance(n.value, ast.Attribute) and n.value.attr == "shape":
                return ast.unparse(n)
            if not isinstance(n.value, ast.Name):
                raise Untranslatable(ast.unparse(n))
            if vec:
                t = self.permuted(n)
                if t is not None:
                    return t
            sp = self.spec(n) if vec else None
            if sp is None:
                return ast.unparse(n)
            return self.index(n.value.id, sp)
        if isinstance(n, ast.BinOp):
            op = _BINOPS.get(type(n.op))
            if op is None:
                raise Untranslatable(type(n.op).__name__)
            return f"({self.expr(n.left)} {op} {self.expr(n.right)})"
        if isinstance(n, ast.UnaryOp):
            if isinstance(n.op, ast.Not):
                return f"np.logical_not({self.expr(n.operand)})" if vec else f"(not {self.expr(n.operand)})"
            if isinstance(n.op, ast.USub):
                return f"(-{self.expr(n.operand)})"
            if isinstance(n.op, ast.UAdd):
                return f"(+{self.expr(n.operand)})"
            raise Untranslatable(type(n.op).__name__)
        if isinstance(n, ast.BoolOp):
            if not vec:
                return "(" + (" and " if isinstance(n.op, ast.And) else " or ").join(map(self.expr, n.values)) + ")"
            f = "np.logical_and" if isinstance(n.op, ast.And) else "np.logical_or"
            acc = self.expr(n.values[0])
            for v in n.values[1:]:
                acc = f"{f}({acc}, {self.expr(v)})"
            return acc
        if isinstance(n, ast.Compare):
            ops = {ast.Gt: ">", ast.GtE: ">=", ast.Lt: "<", ast.LtE: "<=", ast.Eq: "==", ast.NotEq: "!="}
            parts = []
            left = n.left
            for o, right in zip(n.ops, n.comparators):
                if type(o) not in ops:
                    raise Untranslatable(type(o).__name__)
                parts.append(f"({self.expr(left)} {ops[type(o)]} {self.expr(right)})")
                left = right
            if len(parts) == 1:
                return parts[0]
            acc = parts[0]
            for p in parts[1:]:
                acc = f"np.logical_and({acc}, {p})" if vec else f"({acc} and {p})"
            return acc
        if isinstance(n, ast.IfExp):
            if not vec:
                return f"({self.expr(n.body)} if {self.expr(n.test)} else {self.expr(n.orelse)})"
            return f"np.where({self.expr(n.test)}, {self.expr(n.body)}, {self.expr(n.orelse)})"
        if isinstance(n, ast.Tuple) and not vec:
            return "(" + "".join(f"{self.expr(e)}, " for e in n.elts) + ")"
        if isinstance(n, ast.Call) and not n.keywords:
            f = n.func
            args = ", ".join(self.expr(a) for a in n.args)
            if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name):
                if f.value.id == "np" and f.attr in ("float32", "float64", "float16", "int8", "int16", "int32",
                                                      "int64", "uint8", "uint16", "uint32", "uint64",
                                                      "bool", "bool_", "zeros"):
                    return f"np.{f.attr}({args})"
                if f.value.id == "math" and f.attr in _MATH:
                    return f"{_MATH[f.attr]}({args})" if vec else f"math.{f.attr}({args})"
                if f.attr == "reshape" and not vec:
                    return f"{self.expr(f.value)}.reshape({args})"
            if isinstance(f, ast.Name) and f.id == "abs":
                return f"abs({args})"
            if isinstance(f, ast.Name) and f.id in ("max", "min", "int", "float") and not vec:
                return f"{f.id}({args})"
            raise Untranslatable(ast.unparse(f))
        raise Untranslatable(type(n).__name__)

    # statements ----------------------------------------------------------------------------
    def stmts(self, body: list, depth: int) -> None:
        for s in body:
            self.stmt(s, depth)

    def stmt(self, s: ast.stmt, depth: int) -> None:
        vec = bool(self.ctx)
        if isinstance(s, ast.For):
            it = s.iter
            if not (isinstance(s.target, ast.Name) and isinstance(it, ast.Call) and isinstance(it.func, ast.Name)
                    and it.func.id == "range" and len(it.args) == 1 and not s.orelse):
                raise Untranslatable("loop form")
            ext = ast.unparse(it.args[0])
            if s.target.id == "_once" and ext == "1":
                self.stmts(s.body, depth)
                return
            self.ctx.append((s.target.id, ext))
            self.stmts(s.body, depth)
            self.ctx.pop()
            return
        if isinstance(s, ast.Assign) and len(s.targets) == 1:
            t = s.targets[0]
            if not vec or isinstance(t, ast.Name):   # a local, or outside the loops (an initial value)
                self.emit(f"{ast.unparse(t)} = {self.expr(s.value)}", depth)
                return
            if isinstance(t, ast.Subscript) and isinstance(t.value, ast.Name):
                sp = self.target_spec(t)   # all False: one element, the last iteration's value
                view = self.index(t.value.id, sp)
                if all(self.flags(sp)) and len(sp) == len(self.ctx):   # every element once: a plain store
                    self.emit(f"{view} = {self.expr(s.value)}", depth)
                    return
                self.emit(f"_store({view}, {self.flags(sp)!r}, {self.expr(s.value)}, {self.shape()})", depth)
                return
        if isinstance(s, ast.AugAssign) and isinstance(s.op, ast.Add):
            t = s.target
            if not vec:
                self.emit(f"{ast.unparse(t)} += {self.expr(s.value)}", depth)
                return
            if isinstance(t, ast.Name):
                self.emit(f"{t.id} = _accumulate({t.id}, {self.expr(s.value)}, {self.shape()}, ())[()]", depth)
                return
            if isinstance(t, ast.Subscript) and isinstance(t.value, ast.Name):
                sp = self.target_spec(t)
                a = t.value.id
                self.emit(f"_tv = {self.index(a, sp)}", depth)
                self.emit(f"_tv[...] = _accumulate(_tv, {self.expr(s.value)}, {self.shape()}, {self.flags(sp)!r})",
                          depth)
                return
        if (isinstance(s, ast.If) and vec and not s.orelse and len(s.body) == 1 and isinstance(s.body[0], ast.Assign)
                and len(s.body[0].targets) == 1 and isinstance(s.body[0].targets[0], ast.Subscript)
                and isinstance(s.body[0].targets[0].value, ast.Name)):
            self.select(s.test, s.body[0].targets[0], s.body[0].value, depth)
            return
        raise Untranslatable(ast.unparse(s).splitlines()[0])

    def select(self, test: ast.AST, t: ast.Subscript, value: ast.AST, depth: int) -> None:
        """``if test: t = value`` in every iteration (a max/min reduction into ``t``): the
        iterations that reach each element of ``t`` in loop order, one vectorized step each."""
        sp = self.target_spec(t)
        flags, target = self.flags(sp), ast.unparse(t)
        parts: dict[str, str] = {}
        outer = self.expr

        def expr(n: ast.AST) -> str:
            if isinstance(n, ast.Subscript) and ast.unparse(n) == target:
                return "_cur"
            if isinstance(n, ast.Subscript) and self.uses_ctx(n):
                src = ast.unparse(n)
                if src not in parts:
                    parts[src] = f"_p{len(parts)}"
                    self.emit(f"{parts[src]} = _by_target({outer(n)}, {self.shape()}, {flags!r})", depth)
                return f"{parts[src]}[..., _k]"
            return outer(n)

        self.emit(f"_tv = {self.index(t.value.id, sp)}", depth)
        self.expr = expr   # the test and the value, per iteration, against the current value
        try:
            c, v = expr(test), expr(value)
        finally:
            del self.expr
        if not parts:
            raise Untranslatable("a selection that reads nothing per iteration")
        first = next(iter(parts.values()))
        self.emit(f"_cur = _tv.reshape({first}.shape[:-1]).copy()", depth)
        self.emit(f"for _k in range({first}.shape[-1]):", depth)
        self.emit(f"_cur = np.where({c}, {v}, _cur).astype(_tv.dtype)", depth + 1)
        self.emit("_tv[...] = _cur.reshape(_tv.shape)", depth)


def translate(source: str) -> str:
    """The twin's source for the module ``source`` (its function ``loop``); raises
    Untranslatable."""
    tree = ast.parse(source)
    fn = next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "loop"), None)
    if fn is None:
        raise Untranslatable("no loop function")
    tr = _Tr()
    tr.stmts(fn.body, 1)
    args = ", ".join(a.arg for a in fn.args.args)
    return f"def loop({args}):\n" + "\n".join(tr.lines or ["    pass"]) + "\n    return None\n"


def twin(source: str):
    """A NumPy function computing what the module ``source``'s ``loop`` computes, bit for bit;
    None when the loop uses something these rules do not cover."""
    key = hashlib.sha256(source.encode()).hexdigest()
    if key in _CACHE:
        return _CACHE[key]
    try:
        text = translate(source)
    except (Untranslatable, SyntaxError) as e:
        log.debug("no NumPy twin for a loop (%s)", e)
        _CACHE[key] = None
        return None
    g = dict(_HELPERS)
    exec(compile(text, f"<graphengine NumPy twin {key[:12]}>", "exec"), g)
    body = g["loop"]

    def run(*args):
        with np.errstate(all="ignore"):
            return body(*args)

    run.__name__ = "loop"
    run.twin_source = text
    _CACHE[key] = run
    return run

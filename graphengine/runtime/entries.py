"""The per-call code of ``Session.run``'s cached entries and of ``make_callable``, generated as
straight-line Python for the call's number of feeds: on this path a loop or comprehension per
call costs more than the work it does (a 2-element list comprehension ~0.7 us, ``with lock:``
~0.57 us against 0.27 for acquire/release, on the slower of the benchmark hosts)."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import FeedError
from ..graph import Operation, Tensor
from .feeds import _host_copy, _out, convert_feed
from .nest import pack
from .threads import POLICY as BLAS_POLICY


def _is_leaf(x: Any) -> bool:
    t = type(x)
    return t is Tensor or t is Operation or isinstance(x, Tensor | Operation | str) \
        or hasattr(x, "_as_graph_tensor")


MISS = object()  # an entry's answer when a call's feed values do not fit it (run takes the long way)


def entry_function(sess: Any, exe: Any, fetches: Any, feed_dict: dict, ts: list, vals: list,
                    getters: list, fast: Any) -> Any:
    """``entry(values, device_arrays)`` for one fetch structure and feed signature, generated as
    straight-line Python for its number of feeds (a loop or comprehension per call costs more
    than the work on this path): per feed, convert a non-array value, check dtype and rank
    against the signature (else MISS), check the known dims (FeedError naming the placeholder),
    cast, make C-contiguous; then the compiled step with its fixed arguments when the
    signature has run before (``sig.hot``), else ``exe.call``; then the fetches copied out."""
    n = len(ts)
    v = [f"v{i}" for i in range(n)]
    ns: dict[str, Any] = {"sess": sess, "exe": exe, "MISS": MISS, "ndarray": np.ndarray,
                          "convert_feed": convert_feed, "contig": np.ascontiguousarray,
                          "state": sess.state, "lock": sess._lock, "dev": sess._device_feeds,
                          "fetches": fetches, "pack": pack, "is_leaf": _is_leaf, "Operation": Operation,
                          "host_copy": _host_copy, "out_of": _out, "fast": fast, "keep": list(feed_dict),
                          "getters": getters, "dict": dict, "zip": zip, "tick": BLAS_POLICY.tick,
                          "empty": np.empty}
    L = ["def entry(values, device_arrays):",
         "    if sess._closed:",
         "        sess._check_open()"]
    if n:
        L.append(f"    {', '.join(v)}, = values")
    for i, t in enumerate(ts):
        ns[f"t{i}"] = t
        ns[f"d{i}"] = vals[i].dtype
        L += [f"    if type(v{i}) is not ndarray:",
              f"        v{i} = convert_feed(t{i}, v{i}, device_ok=dev)",
              f"        if type(v{i}) is not ndarray:",
              "            return MISS",
              f"    dt = v{i}.dtype",
              f"    if dt is not d{i} and dt != d{i}:",
              "        return MISS",
              f"    s{i} = v{i}.shape",
              f"    if len(s{i}) != {vals[i].ndim}:",
              "        return MISS"]
        known = [] if t.shape is None else [(a, d) for a, d in enumerate(t.shape) if d is not None]
        if known:
            cond = " or ".join(f"s{i}[{a}] != {d}" for a, d in known)
            L += [f"    if {cond}:", f"        convert_feed(t{i}, v{i})  # raises the FeedError naming it"]
        if vals[i].dtype != t.dtype.np:
            L.append(f"    v{i} = convert_feed(t{i}, v{i}, device_ok=dev)")
        L += [f"    if not v{i}.flags.c_contiguous:", f"        v{i} = contig(v{i})"]
    kind = type(fetches)
    if _is_leaf(fetches):
        result = "out[0]"
    elif kind is list:
        result = "out"
    elif kind is tuple:
        result = "tuple(out)"
    else:
        result = "pack(fetches, out, is_leaf)"
    general = ["        lock.acquire()", "        try:",
               f"            vals = sess._execute(exe, dict(zip(keep_ts, [{', '.join(v)}])), host=not device_arrays)",
               "            out = [None if g is None else out_of(vals[g], device_arrays) for g in getters]",
               "        finally:", "            lock.release()",
               f"        return {result}"]
    ns["keep_ts"] = ts
    if fast is None:
        L += ["    if True:", *general]
    else:
        pos = {t: i for i, t in enumerate(ts)}
        order = [pos[t] for t in exe.program.feeds]
        L += ["    if device_arrays:", *general, "    lock.acquire()", "    try:"]
        L += _call_lines(exe, order, getters)
        L += ["    finally:", "        lock.release()", f"    return {result}"]
    exec("\n".join(L), ns)  # noqa: S102 - generated from the plan, no user text
    ns["entry"].source = "\n".join(L)
    return ns["entry"]


def _fetch_parts(exe: Any, getters: list, hot: bool = False) -> list[str]:
    """Per fetch, the expression that hands it out from the step's fetch list ``got`` (``hot``:
    from the call_hot names, ``h[3]`` and the output arrays ``o<j>``): None for an op, a NumPy
    scalar for rank 0, the array itself for a fetch the step wrote into an array of its own
    (``exe.fresh_pos``: the first getter of it only), else a copy (``_host_copy``)."""
    idx = {t: i for i, t in enumerate(exe.program.fetches)}
    fresh = set(getattr(exe, "fresh_pos", ()))
    out_of = getattr(exe, "_out_of", None)
    parts = []
    for g in getters:
        if g is None:
            parts.append("None")
            continue
        i = idx[g]
        x = f"got[{i}]"
        if hot:
            j = out_of[i]
            x = f"h[3][{i}]" if j < 0 else (f"o{j}" if i in fresh else f"o{j}.reshape(h[5][{i}])")
        if g.shape == ():
            parts.append(f"{x}[()]")
        elif i in fresh:
            fresh.discard(i)  # a second getter of the same fetch gets a copy
            parts.append(x)
        else:
            parts.append(f"host_copy({x})")
    return parts


def _call_lines(exe: Any, order: list, getters: list) -> list[str]:
    """The lines (inside the lock) that run the plan on feeds ``v{j}`` (``s{j}`` their shapes)
    for j in ``order`` (``program.feeds`` order) and set ``out``: for a compiled step,
    ``StepExecutable.call_hot`` inlined (the fixed arguments of a signature that has run),
    else ``exe.call``."""
    args = ", ".join(f"v{j}" for j in order)
    parts = _fetch_parts(exe, getters)
    if not (hasattr(exe, "_sigs") and hasattr(exe, "fn")):
        return [f"        got = fast([{args}], state)", f"        out = [{', '.join(parts)}]"]
    shapes = ", ".join(f"s{j}" for j in order) + ("," if len(order) == 1 else "")
    n_out = len(exe.lay.outs)
    outs = "".join(f", o{j}" for j in range(n_out))
    if n_out:   # per-call output arrays: new ones each call, the fetches handed out as they are
        hot_lines = [f"            o{j} = empty(*h[4][{j}])" for j in range(n_out)]
        hot_out = f"            out = [{', '.join(_fetch_parts(exe, getters, hot=True))}]"
    else:
        hot_lines = []
        hot_out = "            got = h[3]"
    return ["        tick()",
            f"        sig = exe._sigs.get(({shapes}))",
            "        h = None if sig is None else sig.hot",
            "        if h is not None and h[0] is state and h[1] == state.version:",
            *hot_lines,
            f"            code = exe.fn({args}{', ' if args else ''}*h[2]{outs})",
            "            if code:",
            f"                exe._raise(code - 1, dict(zip(exe._feed_order, [{args}])), state)",
            hot_out,
            "        else:",
            f"            got = fast([{args}], state)",
            *([f"            out = [{', '.join(parts)}]"] if n_out else [f"        out = [{', '.join(parts)}]"])]


def callable_function(sess: Any, exe: Any, fetches: Any, ts: list, getters: list, fast: Any,
                       device_arrays: bool) -> Any:
    """``make_callable``'s ``call(*values)``, generated like ``entry_function``: a feed that is
    not a C-contiguous array of its placeholder's dtype and rank goes through ``convert_feed``;
    then the plan (compiled step inlined as in ``_call_lines``), then the fetches."""
    n = len(ts)
    ns: dict[str, Any] = {"sess": sess, "exe": exe, "ndarray": np.ndarray, "convert_feed": convert_feed,
                          "state": sess.state, "lock": sess._lock, "dev": sess._device_feeds,
                          "fetches": fetches, "pack": pack, "is_leaf": _is_leaf, "host_copy": _host_copy,
                          "out_of": _out, "fast": fast, "getters": getters, "dict": dict, "zip": zip,
                          "tick": BLAS_POLICY.tick, "FeedError": FeedError, "ts": ts, "empty": np.empty,
                          "device_arrays": device_arrays}
    L = ["def call(*values):",
         f"    if len(values) != {n}:",
         f"        raise FeedError(f'expected {n} feed values ({{[t.name for t in ts]}}), got {{len(values)}}')"]
    if n:
        L.append(f"    {', '.join(f'v{i}' for i in range(n))}, = values")
    for i, t in enumerate(ts):
        ns[f"t{i}"], ns[f"d{i}"] = t, t.dtype.np
        nd = None if t.shape is None else len(t.shape)
        L += [f"    if (type(v{i}) is not ndarray or v{i}.dtype is not d{i} and v{i}.dtype != d{i}"
              f" or v{i}.ndim != {nd} or not v{i}.flags.c_contiguous):",
              f"        v{i} = convert_feed(t{i}, v{i}, device_ok=dev)",
              f"    s{i} = v{i}.shape"]
    single = not isinstance(fetches, list | tuple | dict)
    flat = type(fetches) in (list, tuple) and all(_is_leaf(f) for f in fetches)
    result = ("out[0]" if single else ("out" if type(fetches) is list else "tuple(out)") if flat
              else "pack(fetches, out, is_leaf)")
    L += ["    lock.acquire()", "    try:", "        if sess._closed:", "            sess._check_open()"]
    if fast is not None:
        L += _call_lines(exe, list(range(n)), getters)
    else:
        L += [f"        vals = sess._execute(exe, dict(zip(ts, [{', '.join(f'v{i}' for i in range(n))}])), "
              "host=not device_arrays)",
              "        out = [None if g is None else out_of(vals[g], device_arrays) for g in getters]"]
    L += ["    finally:", "        lock.release()", f"    return {result}"]
    exec("\n".join(L), ns)  # noqa: S102 - generated from the plan, no user text
    ns["call"].source = "\n".join(L)
    return ns["call"]

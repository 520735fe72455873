"""Pictures of graphs and training: Graphviz DOT export, rendering, loss and decision plots.

``to_dot`` needs nothing; ``render`` needs the Graphviz ``dot`` binary; the plot helpers need
matplotlib (``pip install graphengine[viz]``), imported only when called.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from typing import Any

import numpy as np

from .graph import Graph, Operation, Tensor, get_default_graph, shape_str

# node styles by op type; anything else is a plain box
_STYLES = {
    "placeholder": 'shape=ellipse, style=filled, fillcolor="#d9ecff"',
    "placeholder_with_default": 'shape=ellipse, style=filled, fillcolor="#d9ecff"',
    "variable": 'shape=box3d, style=filled, fillcolor="#fff2cc"',
    "const": 'shape=box, style="rounded,dashed", fontcolor="#555555"',
}
_GRAD_STYLE = 'style="rounded,filled", fillcolor="#fde2e2"'


def _is_gradient(op: Operation) -> bool:
    return op.forward is not None or op.name.split("/", 1)[0].startswith("gradients")


def _as_op(x: Any) -> Operation:
    if hasattr(x, "_as_graph_tensor"):
        x = x._as_graph_tensor()
    if isinstance(x, Tensor):
        return x.op
    if isinstance(x, Operation):
        return x
    raise TypeError(f"to_dot: cannot draw {x!r}; pass a Graph, or tensors/ops/variables")


def _select(graph_or_fetches: Any, include_gradients: bool) -> list[Operation]:
    if graph_or_fetches is None or isinstance(graph_or_fetches, Graph):
        g = graph_or_fetches or get_default_graph()
        return [op for op in g.get_operations() if include_gradients or not _is_gradient(op)]
    fetches = graph_or_fetches if isinstance(graph_or_fetches, list | tuple | set) else [graph_or_fetches]
    seen: dict[Operation, None] = {}
    stack = [_as_op(f) for f in fetches]
    while stack:
        op = stack.pop()
        if op in seen or (not include_gradients and _is_gradient(op)):
            continue
        seen[op] = None
        stack.extend(t.op for t in op.inputs)
        stack.extend(op.control_inputs)
    return sorted(seen, key=lambda o: o._id)


def _q(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _label(op: Operation, show_shapes: bool) -> str:
    base = op.name.rpartition("/")[2]
    lines = [base] if base == op.type else [base, op.type]
    if show_shapes and op.outputs:
        lines.append(", ".join(f"{shape_str(t.shape)} {t.dtype.name}" for t in op.outputs))
    return "\\n".join(s.replace("\\", "\\\\").replace('"', '\\"') for s in lines)


def to_dot(graph_or_fetches: Any = None, include_gradients: bool = False, show_shapes: bool = True,
           name: str = "graphengine") -> str:
    """Graphviz DOT text for a graph, or for the part of it that ``fetches`` need.

    Name scopes become nested clusters; each node shows its name, op type, and output shape
    and dtype. Backward (gradient) ops are left out unless ``include_gradients``; with it they
    are shaded red. Control dependencies are dashed edges.

    >>> import graphengine as ge
    >>> x = ge.placeholder(ge.float32, (None, 3), name="x")
    >>> with ge.name_scope("layer"):
    ...     y = ge.nn.relu(x)
    >>> dot = to_dot(y)
    >>> "subgraph cluster_" in dot and '"layer/Relu"' in dot.replace("relu", "Relu")
    True
    """
    ops = _select(graph_or_fetches, include_gradients)
    chosen = set(ops)
    tree: dict = {"ops": [], "kids": {}}  # scope tree: nested clusters
    for op in ops:
        node = tree
        for part in op.scope.split("/") if op.scope else []:
            node = node["kids"].setdefault(part, {"ops": [], "kids": {}})
        node["ops"].append(op)
    lines = [f"digraph {_q(name)} {{", "  rankdir=TB;", "  compound=true;",
             '  node [shape=box, style=rounded, fontname="Helvetica", fontsize=10];',
             '  edge [fontname="Helvetica", fontsize=8, color="#555555"];']
    counter = [0]

    def emit(node: dict, path: str, indent: str) -> None:
        for op in node["ops"]:
            style = _STYLES.get(op.type, "")
            if _is_gradient(op):
                style = _GRAD_STYLE
            attrs = f'label="{_label(op, show_shapes)}"' + (", " + style if style else "")
            lines.append(f"{indent}{_q(op.name)} [{attrs}];")
        for part, kid in node["kids"].items():
            counter[0] += 1
            full = f"{path}/{part}" if path else part
            lines.append(f"{indent}subgraph cluster_{counter[0]} {{")
            lines.append(f'{indent}  label={_q(full)}; style="rounded"; color="#999999"; fontsize=11;')
            emit(kid, full, indent + "  ")
            lines.append(f"{indent}}}")

    emit(tree, "", "  ")
    for op in ops:
        for t in op.inputs:
            if t.op in chosen:
                extra = f' [label="{t.value_index}"]' if len(t.op.outputs) > 1 else ""
                lines.append(f"  {_q(t.op.name)} -> {_q(op.name)}{extra};")
        for c in op.control_inputs:
            if c in chosen:
                lines.append(f"  {_q(c.name)} -> {_q(op.name)} [style=dashed];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def render(dot: str, path: str, format: str | None = None) -> str:  # noqa: A002
    """Render DOT text to ``path`` (format from its suffix: svg, png, pdf) with Graphviz's ``dot``.

    Raises ``RuntimeError`` saying how to install Graphviz when the binary is not on PATH.

    >>> # render(to_dot(loss), "model.svg")
    """
    exe = shutil.which("dot")
    if exe is None:
        raise RuntimeError("render: the Graphviz 'dot' program is not on PATH; install Graphviz "
                           "(apt install graphviz, brew install graphviz or conda install graphviz) "
                           "or paste the to_dot() text into an online Graphviz viewer")
    fmt = format or os.path.splitext(path)[1].lstrip(".").lower() or "svg"
    proc = subprocess.run([exe, f"-T{fmt}", "-o", os.fspath(path)], input=dot.encode(),
                          capture_output=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"render: dot -T{fmt} failed: {proc.stderr.decode(errors='replace').strip()}")
    return os.fspath(path)


def _figure(figsize: tuple[float, float]) -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("plotting needs matplotlib: pip install 'graphengine[viz]'") from None
    return Figure(figsize=figsize)  # no pyplot: no GUI backend, safe in scripts and servers


def plot_loss(history: Any, path: str, title: str = "training loss", smooth: int | None = None,
              log_scale: bool = False) -> str:
    """Save a PNG (or any matplotlib format, from the suffix) of a loss curve.

    ``history`` is a ``training.History`` (per-step losses, epoch means overlaid) or a sequence
    of losses. ``smooth=k`` adds a k-step moving average.

    >>> # plot_loss(fit(sess, train_op, loss, feeds, epochs=10), "loss.png")
    """
    steps = list(getattr(history, "steps", history))
    epochs = list(getattr(history, "epochs", []))
    fig = _figure((6, 4))
    ax = fig.add_subplot(1, 1, 1)
    ax.plot(np.arange(1, len(steps) + 1), steps, lw=1, alpha=0.6 if smooth or epochs else 1, label="step")
    if smooth and len(steps) >= smooth:
        avg = np.convolve(steps, np.ones(smooth) / smooth, mode="valid")
        ax.plot(np.arange(smooth, len(steps) + 1), avg, lw=2, label=f"{smooth}-step mean")
    if epochs and len(epochs) < len(steps):
        per = len(steps) / len(epochs)
        ax.plot(per * np.arange(1, len(epochs) + 1), epochs, "o-", lw=2, label="epoch mean")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title)
    if log_scale:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return os.fspath(path)


def plot_decision_boundary(predict_fn: Callable[[np.ndarray], Any], x: Any, y: Any, path: str,
                           resolution: int = 200, padding: float = 0.5,
                           title: str = "decision boundary") -> str:
    """Save a plot of a 2-D classifier's regions with the data points on top.

    ``predict_fn`` maps an (n, 2) float32 array to class labels (n,) or scores (n, k), whose
    argmax is taken. For a graph: ``lambda pts: sess.run(logits, {x: pts})``.

    >>> # plot_decision_boundary(lambda p: sess.run(logits, {x: p}), x_train, y_train, "b.png")
    """
    x = np.asarray(x, np.float32)
    y = np.asarray(y)
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"plot_decision_boundary needs 2-D points of shape (n, 2), got {x.shape}")
    lo, hi = x.min(0) - padding, x.max(0) + padding
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], resolution), np.linspace(lo[1], hi[1], resolution))
    grid = np.stack([gx.ravel(), gy.ravel()], 1).astype(np.float32)
    pred = np.asarray(predict_fn(grid))
    if pred.ndim == 2:
        pred = pred.argmax(1) if pred.shape[1] > 1 else (pred[:, 0] > 0.5).astype(int)
    fig = _figure((5.5, 5))
    ax = fig.add_subplot(1, 1, 1)
    ax.contourf(gx, gy, pred.reshape(gx.shape), alpha=0.3, cmap="coolwarm")
    labels = y.argmax(1) if y.ndim == 2 else y
    ax.scatter(x[:, 0], x[:, 1], c=labels, cmap="coolwarm", edgecolors="k", s=20)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return os.fspath(path)


__all__ = ["plot_decision_boundary", "plot_loss", "render", "to_dot"]

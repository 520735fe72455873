"""fuse: merge chains of elementwise ops into one loop nest, through broadcasts and reductions.

A group is a set of *map* ops with one output shape (elementwise ops, and the broadcasts of a
reduced gradient back to that shape: ``expand_like``, ``broadcast_like``, whose smaller input is
read with broadcast indexing), plus *sink* reductions (``reduce_sum``, ``reduce_mean``,
``sum_to_like``) of a member's output, which accumulate inside the same loop. So bias-add +
activation + loss arithmetic + the loss's gradient + the bias-gradient column sum is one pass
over the activation instead of one pass per op. A ``Fused`` step produces the members'
original tensors, so consumers need no rewriting. The group runs where its last map op was.

Both backends consume this one pass: the CPU step generator takes every group; the GPU backend
asks for the groups its map kernel can run (``member``: the ops it renders, ``sinks=False``,
``single_output=True``: one expression, written once).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ..graph import Operation, Tensor
from ..ops.facts import unbroadcast_axes
from ..ops.registry import OPS
from .program import Program

BROADCAST_READS = frozenset({"expand_like", "broadcast_like"})  # input 0 read with broadcasting
SINKS = frozenset({"reduce_sum", "reduce_mean", "sum_to_like"})


@dataclass(eq=False)
class Fused:
    members: tuple[Operation, ...]      # map ops in evaluation order, then sink reductions
    inputs: tuple[Tensor, ...]          # tensors read from outside the group
    outputs: tuple[Tensor, ...]         # member outputs needed outside the group (stored)
    n_maps: int = -1                    # members[:n_maps] are maps, the rest sinks (-1: all maps)
    type: str = "fused"
    attrs: dict = field(default_factory=dict)
    control_inputs: tuple = ()

    @property
    def maps(self) -> tuple[Operation, ...]:
        return self.members if self.n_maps < 0 else self.members[:self.n_maps]

    @property
    def sinks(self) -> tuple[Operation, ...]:
        return () if self.n_maps < 0 else self.members[self.n_maps:]

    @property
    def root(self) -> Operation:
        return self.maps[-1] if self.maps else self.members[-1]  # a lone sink (``split``)

    @property
    def name(self) -> str:
        return self.root.name

    @property
    def site(self) -> str:
        return self.root.site

    @property
    def forward(self):
        return self.root.forward

    def describe(self) -> str:
        chain = "+".join(m.type for m in self.members)
        return f"fused [{chain}] ending in {self.root.describe()}"


def passes_through(op: Operation) -> bool:
    """A ``sum_to_like`` that sums over nothing by its static shapes (checked per signature)."""
    if op.type != "sum_to_like":
        return False
    g, like = op.inputs
    return g.shape is not None and like.shape is not None and len(g.shape) == len(like.shape) \
        and all(a == b or (a is None) != (b is None) for a, b in zip(g.shape, like.shape)) \
        and not any(b == 1 and a != 1 for a, b in zip(g.shape, like.shape))


def _is_map(op: Operation) -> bool:
    out = op.outputs[0] if op.outputs else None
    if out is None or out.shape is None:
        return False
    return OPS[op.type].kind == "elementwise" or op.type in BROADCAST_READS or passes_through(op)


# inputs that only give a shape: their values are never read
SHAPE_ONLY = {"expand_like": 1, "broadcast_like": 1, "sum_to_like": 1}


def _reads(op: Operation, t: Tensor) -> bool:
    i = SHAPE_ONLY.get(op.type)
    return i is None or any(u is t for j, u in enumerate(op.inputs) if j != i)


def _sink_axes(op: Operation) -> tuple | None:
    """The axes a sink reduces, read off static shapes (None: not fusable as a sink)."""
    x = op.inputs[0]
    if x.shape is None or not op.outputs[0].dtype.is_floating or len(x.shape) == 0:
        return None
    if op.type == "sum_to_like":
        like = op.inputs[1]
        if like.shape is None:
            return None
        return unbroadcast_axes(x.shape, like.shape) or None  # no broadcasting: the gradient passes through (an alias)
    axes = op.attrs["axis"]
    return tuple(range(len(x.shape))) if axes is None else tuple(axes)


def _traversed(op: Operation) -> tuple[Tensor, ...]:
    """Inputs whose producers may join the group (not broadcast reads, not shape-only)."""
    if op.type in BROADCAST_READS:
        return ()
    return op.inputs[:1] if op.type == "sum_to_like" else tuple(op.inputs)


def fuse(p: Program, *, member: Callable[[Operation], bool] | None = None, sinks: bool = True,
         single_output: bool = False) -> Program:
    """Group the program's map chains (see the module doc). A backend restricts the groups to
    what it can run: ``member(op)``, an extra test each map op must pass; ``sinks``, whether
    reductions accumulate inside groups; ``single_output``, whether only the root's value may be
    needed outside its group (the others are consumed inside it alone, never fetched)."""
    ops = list(p.ops)
    pos = {op: i for i, op in enumerate(ops)}
    consumers: dict[Tensor, list[Operation]] = {}
    for op in ops:
        for t in op.inputs:
            consumers.setdefault(t, []).append(op)
    fetched = set(p.fetches) | {p.resolve(t) for t in p.fetches}
    fed = set(p.feeds)
    phase = {op: (0 if i < p.n_phase1 else 1) for i, op in enumerate(ops)}
    group_of: dict[Operation, int] = {}
    groups: list[list[Operation]] = []
    sinks_of: list[list[Operation]] = []

    def is_map(op: Operation) -> bool:
        return _is_map(op) and (member is None or member(op))

    def sink_ok(c: Operation, t: Tensor, root: Operation, shape: tuple) -> bool:
        """Reduction ``c`` of ``t`` can accumulate in the group emitted at ``root``."""
        if not sinks or c.type not in SINKS or c in group_of or c.inputs[0] is not t or phase[c] != phase[root]:
            return False
        if t.shape != shape or _sink_axes(c) is None or any(u in fed for u in c.outputs):
            return False
        if any(pos[x.op] > pos[root] for x in c.inputs[1:] if x.op in pos):
            return False
        return all(pos[u] > pos[root] for o in c.outputs for u in consumers.get(o, []))

    def candidate(op: Operation, root: Operation, shape: tuple) -> bool:
        return (op in pos and op not in group_of and is_map(op) and op.outputs[0].shape == shape
                and phase[op] == phase[root] and not any(u in fed for u in op.outputs))

    def grow(root: Operation, optimistic: bool) -> tuple[list, list] | None:
        """The group at ``root``. Optimistic: also take earlier map consumers of members (so a
        forward activation joins the backward region that reads it), then check that no member's
        value is read outside the group before the root; None when that check fails."""
        shape = root.outputs[0].shape
        members = {root: None}
        frontier = [root]
        while frontier:
            m = frontier.pop()
            for t in _traversed(m):
                prod = t.op
                if t in fed or prod in members or not candidate(prod, root, shape):
                    continue
                if single_output and (any(o in fetched for o in prod.outputs) or any(
                        c not in members for o in prod.outputs for c in consumers.get(o, []))):
                    continue  # taken, if at all, from the last of its consumers to join
                if not optimistic:  # outside readers must run after the group, or be sinks
                    early = [c for c in consumers.get(t, []) if c not in group_of and c not in members
                             and pos[c] < pos[root] and _reads(c, t)]
                    if any(not sink_ok(c, t, root, shape) for c in early):
                        continue
                members[prod] = None
                frontier.append(prod)
            if optimistic:
                for t in m.outputs:
                    for c in consumers.get(t, []):
                        if c not in members and pos[c] < pos[root] and candidate(c, root, shape):
                            members[c] = None
                            frontier.append(c)
        taken = []
        for m in members:
            for c in consumers.get(m.outputs[0], []):
                if c not in taken and sink_ok(c, m.outputs[0], root, shape) and c not in members:
                    taken.append(c)
        inside = set(members) | set(taken)
        for m in members:
            for c in consumers.get(m.outputs[0], []):
                if c not in inside and c not in group_of and pos[c] < pos[root] and _reads(c, m.outputs[0]):
                    return None
        return list(members), taken

    for root in reversed(ops):
        if root in group_of or not is_map(root):
            continue
        got = (None if single_output else grow(root, optimistic=True)) or grow(root, optimistic=False)
        members, taken = got
        gid = len(groups)
        for m in members + taken:
            group_of[m] = gid
        groups.append(members)
        sinks_of.append(taken)
    out: list = []
    for op in ops:
        gid = group_of.get(op)
        if gid is None:
            out.append(op)
            continue
        maps = sorted(groups[gid], key=lambda o: pos[o])
        if op is not maps[-1]:
            continue
        reds = sorted(sinks_of[gid], key=lambda o: pos[o])
        if len(maps) == 1 and not reds:
            out.append(op)
            continue
        members = maps + reds
        inside = {t for m in members for t in m.outputs}
        ins: list[Tensor] = []
        for m in members:
            reads = m.inputs[:1] if m.type in BROADCAST_READS or m in reds else m.inputs
            for t in reads:
                if t not in inside and t not in ins:
                    ins.append(t)
        stored = [t for m in members for t in m.outputs
                  if t in fetched or any(c not in members and _reads(c, t) for c in consumers.get(t, []))]
        out.append(Fused(tuple(members), tuple(ins), tuple(stored), n_maps=len(maps)))
    n1 = sum(1 for s in out if pos[s.root if isinstance(s, Fused) else s] < p.n_phase1)
    return p.with_ops(out, n_phase1=n1)


def split(p: Program) -> Program:
    """``p`` (a ``fuse`` result) with every group's members as one-member groups, in the group's
    order (maps, then sinks), at the group's place. Each member computes what it computes inside
    its group, rounded to its dtype as there, with reductions accumulating in the same order:
    the same numbers from loops that depend on one op each, so they are shared by every graph
    (the first steps of a new plan run on them while its fused step compiles)."""
    out: list = []
    n1 = 0
    for i, op in enumerate(p.ops):
        parts = [op]
        if isinstance(op, Fused):
            parts = []
            for j, m in enumerate(op.members):
                sink = j >= len(op.maps)
                reads = m.inputs[:1] if m.type in BROADCAST_READS or sink else m.inputs
                parts.append(Fused((m,), tuple(dict.fromkeys(reads)), tuple(m.outputs),
                                   n_maps=0 if sink else -1))
        out += parts
        if i < p.n_phase1:
            n1 += len(parts)
    return p.with_ops(out, n_phase1=n1)

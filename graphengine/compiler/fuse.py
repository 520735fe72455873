"""fuse: merge chains of elementwise ops into one loop nest (bias-add + activation, their
backward, optimizer-side arithmetic). A ``Fused`` step produces the members' original tensors,
so consumers need no rewriting."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..graph import Operation, Tensor
from ..ops.registry import OPS
from .program import Program


@dataclass(eq=False)
class Fused:
    members: tuple[Operation, ...]      # in evaluation order
    inputs: tuple[Tensor, ...]          # tensors read from outside the group
    outputs: tuple[Tensor, ...]         # member outputs needed outside the group (stored)
    type: str = "fused"
    attrs: dict = field(default_factory=dict)
    control_inputs: tuple = ()

    @property
    def name(self) -> str:
        return self.members[-1].name

    @property
    def site(self) -> str:
        return self.members[-1].site

    @property
    def forward(self):
        return self.members[-1].forward

    def describe(self) -> str:
        chain = "+".join(m.type for m in self.members)
        return f"fused [{chain}] ending in {self.members[-1].describe()}"


def _fusable(op: Operation) -> bool:
    return OPS[op.type].kind == "elementwise" and op.outputs[0].shape is not None


def fuse(p: Program) -> Program:
    ops = list(p.ops)
    pos = {op: i for i, op in enumerate(ops)}
    consumers: dict[Tensor, list[Operation]] = {}
    for op in ops:
        for t in op.inputs:
            consumers.setdefault(t, []).append(op)
    fetched = set(p.fetches)
    fed = set(p.feeds)
    phase = {op: (0 if i < p.n_phase1 else 1) for i, op in enumerate(ops)}
    group_of: dict[Operation, int] = {}
    groups: list[list[Operation]] = []
    for root in reversed(ops):
        if root in group_of or not _fusable(root):
            continue
        gid = len(groups)
        members = [root]
        group_of[root] = gid
        shape = root.outputs[0].shape
        frontier = [root]
        while frontier:
            m = frontier.pop()
            for t in m.inputs:
                prod = t.op
                if (prod not in pos or prod in group_of or t in fed or not _fusable(prod)
                        or prod.outputs[0].shape != shape or phase[prod] != phase[root]):
                    continue
                # every outside consumer must run after the group (which sits at the root)
                if any(c not in group_of and pos[c] < pos[root] for c in consumers.get(t, [])):
                    continue
                group_of[prod] = gid
                members.append(prod)
                frontier.append(prod)
        groups.append(members)
    out: list = []
    emitted: set[int] = set()
    for op in ops:
        gid = group_of.get(op)
        if gid is None:
            out.append(op)
            continue
        members = sorted(groups[gid], key=lambda o: pos[o])
        if op is not members[-1]:
            continue
        if gid in emitted:
            continue
        emitted.add(gid)
        if len(members) == 1:
            out.append(op)
            continue
        inside = {t for m in members for t in m.outputs}
        ins: list[Tensor] = []
        for m in members:
            for t in m.inputs:
                if t not in inside and t not in ins:
                    ins.append(t)
        stored = [t for m in members for t in m.outputs
                  if t in fetched or any(c not in members for c in consumers.get(t, []))]
        out.append(Fused(tuple(members), tuple(ins), tuple(stored)))
    n1 = sum(1 for s in out if (s.members[-1] if isinstance(s, Fused) else s) in pos
             and pos[s.members[-1] if isinstance(s, Fused) else s] < p.n_phase1)
    return p.with_ops(out, n_phase1=n1)

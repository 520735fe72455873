"""Core passes: prune to what the fetches need, schedule updates after everything else."""
from __future__ import annotations

from ..errors import FeedError
from ..graph import Operation
from ..ops.registry import OPS
from .program import Program


def prune(p: Program) -> Program:
    """Keep only the ops the fetches and targets need; fed tensors cut the graph."""
    fed = set(p.feeds)
    need: dict[Operation, None] = {}
    why: dict[Operation, Operation] = {}  # op -> a consumer, for error messages
    stack = [t.op for t in p.fetches if t not in fed] + list(p.targets)
    while stack:
        op = stack.pop()
        if op in need:
            continue
        need[op] = None
        deps = [t.op for t in op.inputs if t not in fed] + list(op.control_inputs)
        if op.type == "variable":
            deps = []
        for d in deps:
            why.setdefault(d, op)
        stack.extend(deps)
    for op in need:
        if op.type == "placeholder":
            chain, cur = [], op
            while cur in why and len(chain) < 4:
                cur = why[cur]
                chain.append(f"'{cur.name}'")
            raise FeedError(f"placeholder '{op.name}' (built at {op.site or '?'}) must be fed: "
                            f"{' <- '.join(chain) or 'a fetch'} needs it; add it to feed_dict")
    return p.with_ops(sorted(need, key=lambda o: o._id))


def schedule(p: Program) -> Program:
    """Topological order with variable updates (and whatever reads their outputs) last."""
    late: set[Operation] = set()
    for op in p.ops:  # ops are in topological order already (ids grow as the graph is built)
        if OPS[op.type].kind == "update" or any(t.op in late for t in op.inputs) \
                or any(c in late for c in op.control_inputs):
            late.add(op)
    early = [o for o in p.ops if o not in late]
    return p.with_ops(early + [o for o in p.ops if o in late], n_phase1=len(early))

"""Program: what a compiler pass takes and returns (ops in run order, fetches, feeds)."""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from ..graph import Operation, Tensor
from ..ops.facts import resolve_alias


@dataclass(frozen=True)
class Program:
    ops: tuple[Operation, ...]          # run order; update ops and their dependents come last
    fetches: tuple[Tensor, ...]         # tensors whose values the caller wants
    targets: tuple[Operation, ...]      # ops run for effect (updates, groups)
    feeds: tuple[Tensor, ...]           # tensors given by the caller
    # tensor -> tensor: a pass that replaced a fetched tensor records where its value now is
    aliases: dict = field(default_factory=dict)
    n_phase1: int = 0                   # ops[:n_phase1] run before any variable update

    def with_ops(self, ops, **kw) -> Program:
        return replace(self, ops=tuple(ops), **kw)

    def resolve(self, t: Tensor) -> Tensor:
        return resolve_alias(t, self.aliases.get)

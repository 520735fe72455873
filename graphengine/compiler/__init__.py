"""The compiler: an explicit, ordered list of pure passes ``Program -> Program``."""
from __future__ import annotations

from collections.abc import Callable, Sequence

from ..graph import Operation, Tensor
from .passes import prune, schedule
from .program import Program
from .simplify import simplify

Pass = Callable[[Program], Program]

# fuse and the memory plan are the CPU step backend's (graphengine/backends/cpu/step.py), after these
PIPELINE: list[Pass] = [prune, simplify, schedule]


def compile_program(fetches: Sequence[Tensor], targets: Sequence[Operation],
                    feeds: Sequence[Tensor], pipeline: Sequence[Pass] | None = None) -> Program:
    p = Program(ops=(), fetches=tuple(fetches), targets=tuple(targets), feeds=tuple(feeds))
    for step in PIPELINE if pipeline is None else pipeline:
        p = step(p)
    return p


__all__ = ["PIPELINE", "Program", "compile_program", "prune", "schedule", "simplify"]

"""CUDA-graph replay of a training step (CuPy stream capture), removing per-launch overhead.

CuPy cannot capture cuBLAS calls (``NotImplementedError`` during capture), so two designs:

* ``whole_step=True`` (``jit="graph"``): one graph for the whole step; matmuls use the tiled
  Numba-CUDA GEMM, which captures like any kernel.
* ``whole_step=False`` (``jit="segments"``): the ops between matmuls are captured as graphs and
  the cuBLAS matmuls run eagerly between them, into the buffers the graphs read.

A recording pins every buffer of one step (feeds, intermediates, outputs); replays copy the new
feeds into the pinned feed buffers, launch, and read the pinned fetch buffers. Recordings are
keyed by feed shapes and the state version (a replaced variable buffer invalidates them). The
first call with a new key runs eagerly (with the tiled GEMM in whole-step mode): that compiles
and loads every kernel the capture will launch and warms CuPy's memory pool. Buffers allocated
while capturing (outputs and kernels' scratch space) belong to the recording, which keeps them
alive as long as the graph can be replayed. Steps that draw host random numbers (initializers,
dropout) are never captured: a graph would replay one sample.

Under the Numba CUDA simulator the array layer's stream emulates capture (device.SimStream), so
CI runs both modes end to end.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kernels.cuda import device

from .backend import CudaExecutable, has_host_inputs


@dataclass
class Recording:
    feeds: dict                       # tensor -> pinned device feed buffer
    vals: dict                        # every device value of the step (keeps buffers alive)
    items: list = field(default_factory=list)   # callables replayed in order
    held: list = field(default_factory=list)    # every buffer allocated while capturing
    graphs: int = 0                   # captured graphs in ``items`` (the rest: eager matmuls)


class CapturedExecutable:
    def __init__(self, eager: CudaExecutable, whole_step: bool) -> None:
        self.eager = eager
        self.program = eager.program
        self.arrays = eager.arrays
        self.whole_step = whole_step
        self.capturable = not has_host_inputs(eager.steps)
        self._seen: set = set()
        self._records: dict[tuple, Recording] = {}

    def run(self, feeds: dict, state: Any, host: bool = True) -> dict:
        if not self.capturable:
            return self.eager.run(feeds, state, host)
        key = (tuple(sorted((t.name, tuple(v.shape)) for t, v in feeds.items())), state.version)
        rec = self._records.get(key)
        if rec is None:
            if key not in self._seen:
                self._seen.add(key)
                # warm-up: compile and load every kernel the capture launches, fill the pool
                self.arrays.use_own_gemm = self.whole_step
                try:
                    return self.eager.run(feeds, state, host)
                finally:
                    self.arrays.use_own_gemm = False
            rec = self._record(self.arrays.adopt_feeds(feeds), state)
            self._records[key] = rec
        else:
            feeds = self.arrays.adopt_feeds(feeds)
            with device.using(self.arrays):
                for t, v in feeds.items():  # into the buffers the graph reads
                    self.arrays.copy_into(rec.feeds[t], v)
        with device.using(self.arrays):
            for item in rec.items:
                item()
            out = self.eager.fetch(rec.vals, host)
        if not host:
            self.arrays.hand_over()
        return out

    def _record(self, feeds: dict, state: Any) -> Recording:
        arrays = self.arrays
        # recordings of an older state version point at replaced variable buffers: drop them
        self._records = {k: r for k, r in self._records.items() if k[1] == state.version}
        with device.using(arrays):
            # the graph's own feed buffers (a device feed is copied: replays write into these)
            pinned = {t: arrays.upload(v) if isinstance(v, np.ndarray) else arrays.copy(v)
                      for t, v in feeds.items()}
            rec = Recording(feeds=pinned, vals=dict(pinned))
            segments = self._segments()
            for seg in segments:
                if not self.whole_step and len(seg) == 1 and seg[0][0].type == "matmul":
                    if seg[0][0].outputs[0] not in rec.vals:  # (a fed matmul output is not run)
                        rec.items.append(self._eager_matmul(seg[0][0], rec.vals))
                    continue
                rec.items.append(self._capture(seg, rec, state))
                rec.graphs += 1
        return rec

    def _capture(self, seg: list, rec: Recording, state: Any) -> Any:
        arrays, stream = self.arrays, self.arrays.stream
        arrays.use_own_gemm = self.whole_step
        arrays.held = rec.held
        stream.begin_capture()
        try:
            self.eager.run_steps(rec.vals, state, seg)
        except BaseException:
            try:
                stream.end_capture()  # leave the stream usable; the step's error is the one to see
            except Exception:  # noqa: BLE001, S110 - an invalidated capture also fails to end
                pass
            raise
        else:
            graph = stream.end_capture()
        finally:
            arrays.use_own_gemm = False
            arrays.held = None
        return lambda: graph.launch(stream)

    def _segments(self) -> list[list]:
        steps = self.eager.steps
        if self.whole_step:
            return [steps]
        out: list[list] = [[]]
        for step in steps:
            if step[0].type == "matmul":
                out += [[step], []]
            else:
                out[-1].append(step)
        return [s for s in out if s]

    def _eager_matmul(self, op: Any, vals: dict) -> Any:
        """Allocate the matmul's output now (later segments capture reads of it); replay = cuBLAS."""
        a, b = (vals[t] for t in op.inputs)
        ta, tb = op.attrs["transpose_a"], op.attrs["transpose_b"]
        m = a.shape[1] if ta else a.shape[0]
        n = b.shape[0] if tb else b.shape[1]
        out = vals[op.outputs[0]] = self.arrays.empty((int(m), int(n)), a.dtype)
        return lambda: self.arrays.matmul(a, b, ta, tb, out)

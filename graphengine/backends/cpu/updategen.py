"""The generated step's optimizer updates and assignments: flat, in place on the variables."""
from __future__ import annotations

from graphengine.ops.facts import render_adam_step_size
from graphengine.ops.registry import OPS
from kernels.codegen import num_literal

from .loopgen import Unsupported, _np_type


class UpdateGen:
    """Mixed into the step generator (``stepgen.Gen``)."""

    def _upd(self, op, fn: str, flat: list[str], scalars: list[str]) -> None:
        """In-place update call; scalars are cast to the variable's dtype (float32 math)."""
        ins = dict(zip(OPS[op.type].meta["inputs"], op.inputs))
        T = _np_type(ins["var"])
        args = [f"{self.v(ins[n])}.reshape(-1)" for n in flat]
        args += [f"{T}({x})" if not x.startswith(("True", "False")) else x for x in scalars]
        self.emit(f"{fn}({', '.join(args)})")

    def op_apply_gradient_descent(self, op):
        self._upd(op, "sgd", ["var", "grad"], [self.scalar(op.inputs[1])])

    def op_apply_momentum(self, op):
        ins = dict(zip(OPS[op.type].meta["inputs"], op.inputs))
        self._upd(op, "momentum", ["var", "accum", "grad"],
                  [self.scalar(ins["lr"]), self.scalar(ins["momentum"]), repr(op.attrs["nesterov"])])

    def op_apply_rms_prop(self, op):
        a = op.attrs
        self._upd(op, "rmsprop", ["var", "ms", "mom", "grad"],
                  [self.scalar(op.inputs[3]), num_literal(a["rho"]), num_literal(1.0 - a["rho"]),
                   num_literal(a["momentum"]), num_literal(a["epsilon"])])

    def op_apply_adam(self, op):
        a = op.attrs
        ins = dict(zip(OPS[op.type].meta["inputs"], op.inputs))
        b1, b2 = a["beta1"], a["beta2"]
        lr, t = self.scalar(ins["lr"]), self.scalar(ins["t"])
        L = num_literal
        step = render_adam_step_size(lr, t, L(b1), L(b2))
        self._upd(op, "adam", ["var", "m", "v", "grad"],
                  [step, L(b1), L(1.0 - b1), L(b2), L(1.0 - b2), L(a["epsilon"])])

    def op_apply_adagrad(self, op):
        self._upd(op, "adagrad", ["var", "accum", "grad"], [self.scalar(op.inputs[2])])

    def op_assign(self, op):
        var = op.attrs["targets"][0].outputs[0]
        self.arg("target", var)
        self.emit(f"copy_flat({self.v(var)}.reshape(-1), {self.v(op.inputs[0])}.reshape(-1))")
        self.lay.alias_of[op.outputs[0]] = var

    def op_assign_add(self, op):
        var_read, delta = op.inputs
        if delta.shape != var_read.shape:
            raise Unsupported("assign_add with broadcasting")
        self.emit(f"add_flat({self.v(var_read)}.reshape(-1), {self.v(delta)}.reshape(-1))")
        self.lay.alias_of[op.outputs[0]] = var_read



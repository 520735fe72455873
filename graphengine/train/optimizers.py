"""Optimizers: ``minimize = compute_gradients + apply_gradients``, as in TF1."""
from __future__ import annotations

from typing import Any

from .. import dtypes as _dt
from ..autodiff import blocking_ops, gradients
from ..errors import GradientError
from ..graph import Operation, Tensor, get_default_graph, name_scope
from ..ops import source
from ..ops.control import group
from ..ops.elementwise import add, cast
from ..ops.registry import apply
from ..variables import Variable, assign_add, trainable_variables


class Optimizer:
    """Base class. Subclasses define ``_slots`` and ``_apply_dense``."""

    _slots: tuple[tuple[str, float], ...] = ()   # (slot name, initial value)

    def __init__(self, learning_rate: Any, use_locking: bool = False, name: str = "Optimizer") -> None:
        self._lr = learning_rate
        self._name = name
        self._slot_vars: dict[tuple[Variable, str], Variable] = {}

    def compute_gradients(self, loss: Any, var_list: list | None = None, **_: Any) -> list[tuple]:
        """[(gradient or None, variable), ...] for the trainable variables (or ``var_list``)."""
        loss = source.as_tensor(loss)
        var_list = list(var_list) if var_list is not None else trainable_variables(loss.graph)
        if not var_list:
            raise ValueError("no variables to optimize: create trainable variables first")
        grads = gradients(loss, [v.value() for v in var_list])
        return list(zip(grads, var_list))

    def apply_gradients(self, grads_and_vars: Any, global_step: Variable | None = None,
                        name: str | None = None) -> Operation:
        """An op that applies every (gradient, variable) update in place when run."""
        gv = [(g, v) for g, v in grads_and_vars]
        usable = [(source.as_tensor(g), v) for g, v in gv if g is not None]
        if not usable:
            raise GradientError(_no_gradient_message([v for _, v in gv]))
        updates = []
        with name_scope(name or self._name) as scope:
            self._scope = scope
            lr = self._lr
            for g, v in usable:
                with name_scope(v.op.name.replace("/", "_") + "/"):
                    slots = [self._slot(v, s, init) for s, init in self._slots]
                    lr_t = source.as_tensor(lr, v.dtype) if not isinstance(lr, Tensor) else lr
                    if lr_t.dtype != v.dtype:
                        lr_t = cast(lr_t, v.dtype)
                    updates.append(self._apply_dense(g, v, slots, lr_t))
            updates.extend(self._finish())
            if global_step is not None:
                updates.append(assign_add(global_step, 1).op)
        return group(*updates, name=name or self._name)

    def minimize(self, loss: Any, global_step: Variable | None = None, var_list: list | None = None,
                 name: str | None = None, **_: Any) -> Operation:
        """The training op: compute gradients of ``loss`` and apply them.

        >>> import graphengine as ge
        >>> w = ge.Variable(1.0, name="w_min")
        >>> train = ge.train.GradientDescentOptimizer(0.1).minimize(w * w, var_list=[w])
        """
        gv = self.compute_gradients(loss, var_list)
        if all(g is None for g, _ in gv):
            raise GradientError(_no_gradient_message([v for _, v in gv], source.as_tensor(loss)))
        return self.apply_gradients(gv, global_step, name)

    def get_slot(self, var: Variable, name: str) -> Variable | None:
        return self._slot_vars.get((var, name))

    def get_slot_names(self) -> list[str]:
        return [s for s, _ in self._slots]

    def variables(self) -> list[Variable]:
        return list(self._slot_vars.values())

    def _slot(self, var: Variable, slot: str, init: float) -> Variable:
        key = (var, slot)
        if key not in self._slot_vars:
            # no control dependencies (TF1's init_scope): minimize() under
            # control_dependencies(update_ops) must not make the slots' initializers run them
            with get_default_graph().control_dependencies(None), name_scope(var.op.name + "/"):
                value = source.constant(init, var.dtype, shape=var.shape)
                self._slot_vars[key] = Variable(value, trainable=False,
                                                name=f"{self._name}_{slot}" if slot else self._name)
        return self._slot_vars[key]

    def _apply_dense(self, grad: Tensor, var: Variable, slots: list[Variable], lr: Tensor) -> Operation:
        raise NotImplementedError

    def _finish(self) -> list[Operation]:
        return []


def _update(op_type: str, var: Variable, slots: list[Variable], *rest: Tensor, **attrs: Any) -> Operation:
    targets = (var.op,) + tuple(s.op for s in slots)
    ins = [var.value()] + [s.value() for s in slots] + list(rest)
    return apply(op_type, ins, {"targets": targets, **attrs}, op_type)


class GradientDescentOptimizer(Optimizer):
    """var -= lr * grad."""

    def __init__(self, learning_rate: Any, use_locking: bool = False, name: str = "GradientDescent") -> None:
        super().__init__(learning_rate, use_locking, name)

    def _apply_dense(self, grad, var, slots, lr):
        return _update("apply_gradient_descent", var, [], lr, grad)


class MomentumOptimizer(Optimizer):
    """accum = momentum * accum + grad; var -= lr * accum (Nesterov: lr * (grad + momentum * accum))."""

    _slots = (("", 0.0),)

    def __init__(self, learning_rate: Any, momentum: float, use_locking: bool = False,
                 name: str = "Momentum", use_nesterov: bool = False) -> None:
        super().__init__(learning_rate, use_locking, name)
        self._momentum = momentum
        self._nesterov = bool(use_nesterov)

    def _apply_dense(self, grad, var, slots, lr):
        return _update("apply_momentum", var, slots, lr, grad, source.as_tensor(self._momentum, var.dtype),
                       nesterov=self._nesterov)


class RMSPropOptimizer(Optimizer):
    """TF1 RMSProp: ms = rho*ms + (1-rho)*g^2; mom = momentum*mom + lr*g/sqrt(ms+eps); var -= mom.

    As in TF1 the mean-square slot starts at ones.
    """

    _slots = (("RMSProp", 1.0), ("RMSProp_1", 0.0))

    def __init__(self, learning_rate: Any, decay: float = 0.9, momentum: float = 0.0,
                 epsilon: float = 1e-10, use_locking: bool = False, centered: bool = False,
                 name: str = "RMSProp") -> None:
        super().__init__(learning_rate, use_locking, name)
        self._rho, self._momentum, self._eps = float(decay), float(momentum), float(epsilon)
        self._centered = bool(centered)
        if centered:  # TF1's slots in creation order: rms (ones), mg (zeros), momentum (zeros)
            self._slots = (("RMSProp", 1.0), ("RMSProp_1", 0.0), ("RMSProp_2", 0.0))

    def _slot(self, var, slot, init):
        return super()._slot(var, slot.replace("RMSProp", self._name), init)

    def _apply_dense(self, grad, var, slots, lr):
        """Centered (TF1's ApplyCenteredRMSProp): mg = rho*mg + (1-rho)*g and the denominator is
        sqrt(ms - mg^2 + eps), the variance rather than the second moment."""
        op = "apply_centered_rms_prop" if self._centered else "apply_rms_prop"
        return _update(op, var, slots, lr, grad, rho=self._rho, momentum=self._momentum,
                       epsilon=self._eps)


class AdamOptimizer(Optimizer):
    """TF1 Adam: lr_t = lr*sqrt(1-b2^t)/(1-b1^t); m, v moments; var -= lr_t*m/(sqrt(v)+eps)."""

    _slots = (("m", 0.0), ("v", 0.0))

    def __init__(self, learning_rate: Any = 0.001, beta1: float = 0.9, beta2: float = 0.999,
                 epsilon: float = 1e-8, use_locking: bool = False, name: str = "Adam") -> None:
        super().__init__(learning_rate, use_locking, name)
        self._b1, self._b2, self._eps = float(beta1), float(beta2), float(epsilon)
        self._step: Variable | None = None
        self._t_next: dict[_dt.DType, Tensor] = {}

    def _next_t(self, dtype: _dt.DType) -> Tensor:
        if self._step is None:
            with get_default_graph().control_dependencies(None), name_scope(self._scope):
                self._step = Variable(source.constant(0.0, _dt.float32), trainable=False,
                                      name="step")
        if dtype not in self._t_next:
            t = add(self._step.value(), 1.0)
            self._t_next[dtype] = t if dtype == _dt.float32 else cast(t, dtype)
        return self._t_next[dtype]

    def _apply_dense(self, grad, var, slots, lr):
        return _update("apply_adam", var, slots, lr, self._next_t(var.dtype), grad,
                       beta1=self._b1, beta2=self._b2, epsilon=self._eps)

    def _finish(self):
        ops = [assign_add(self._step, 1.0).op] if self._step is not None else []
        self._t_next = {}
        return ops


class AdagradOptimizer(Optimizer):
    """accum += g^2; var -= lr * g / sqrt(accum) (accumulator starts at 0.1, as TF1)."""

    def __init__(self, learning_rate: Any, initial_accumulator_value: float = 0.1,
                 use_locking: bool = False, name: str = "Adagrad") -> None:
        super().__init__(learning_rate, use_locking, name)
        self._slots = (("", float(initial_accumulator_value)),)

    def _apply_dense(self, grad, var, slots, lr):
        return _update("apply_adagrad", var, slots, lr, grad)


def _no_gradient_message(variables: list[Variable], loss: Tensor | None = None) -> str:
    """Name the variables and, when the loss is known, what cuts the path from them to it."""
    names = ", ".join(v.op.name for v in variables)
    head = f"No gradients provided for any variable: [{names}]."
    if loss is None:
        return (f"{head} Check that the loss depends on them through differentiable ops "
                "(not argmax/equal/cast to int/stop_gradient).")
    what = f"loss {loss.op.describe()}"
    blockers = blocking_ops(loss, [v.value() for v in variables])
    if not blockers:
        return (f"{head} The {what} does not depend on them through differentiable ops "
                "(no op of the graph connects them to it).")
    lines = [f"  {op.describe()}: {why}" for op, why in blockers[:5]]
    if len(blockers) > 5:
        lines.append(f"  ... and {len(blockers) - 5} more")
    return (f"{head} Every path from them to the {what} is blocked:\n" + "\n".join(lines))


def create_global_step(graph: Any = None) -> Variable:
    g = graph or get_default_graph()
    if g.get_collection("global_step"):
        raise ValueError("global step already exists")
    with g.as_default():
        v = Variable(source.constant(0, _dt.int64), trainable=False, name="global_step")
    g.add_to_collection("global_step", v)
    return v


def get_global_step(graph: Any = None) -> Variable | None:
    got = (graph or get_default_graph()).get_collection("global_step")
    return got[0] if got else None


def get_or_create_global_step(graph: Any = None) -> Variable:
    """The graph's global step (an int64 variable counting ``apply_gradients`` calls that are
    given it), created on first use (TF1 ``tf.train.get_or_create_global_step``).

    >>> import graphengine as ge
    >>> ge.train.get_or_create_global_step() is ge.train.get_or_create_global_step()
    True
    """
    return get_global_step(graph) or create_global_step(graph)

"""Stateful ops: variable reads, assignment, and fused optimizer updates applied at step end.

An update op names the variables it writes in ``attrs["targets"]``; its kernel returns their new
values (the CPU kernels write the buffers in place and return them). Updates run after every
other op of the step, so the forward and backward passes always see the old values.
"""
from __future__ import annotations

import numpy as np

from ..errors import DTypeError, ShapeError
from .facts import adam_step_size
from .registry import defop, same_dtype

defop("variable", "source", lambda s, d, a: [(a["shape"], a["dtype"])], differentiable=True,
      vjp=lambda op, g: [], runtime=True, arg_source=True, no_cse=True)


def _assign_infer(s, d, a):
    var = a["targets"][0]
    want = var.outputs[0].shape
    got = s[-1]
    if got is not None and (len(got) != len(want) or
                            any(x is not None and x != y for x, y in zip(got, want))):
        raise ShapeError(f"cannot assign a value of shape {got} to variable '{var.name}' of "
                         f"shape {want}")
    if d[-1] != var.outputs[0].dtype:
        raise DTypeError(f"cannot assign {d[-1].name} to variable '{var.name}' of "
                         f"{var.outputs[0].dtype.name}")
    return [(want, d[-1])]


defop("assign", "update", _assign_infer, ref=lambda a, value: (np.array(value),),
      differentiable=False, stateful=True)
defop("assign_add", "update", _assign_infer, ref=lambda a, var, delta: (var + delta,),
      differentiable=False, stateful=True)


def _no_outputs(s, d, a):
    same_dtype([d[0], d[-1]], "optimizer update (variable and gradient)")
    if s[0] is not None and s[-1] is not None and len(s[0]) == len(s[-1]):
        if any(x is not None and y is not None and x != y for x, y in zip(s[0], s[-1])):
            raise ShapeError(f"gradient of shape {s[-1]} for a variable of shape {s[0]}")
    return []


def _sgd_ref(a, var, lr, grad):
    return (var - lr * grad,)


def _momentum_ref(a, var, accum, lr, grad, momentum):
    accum = accum * momentum + grad
    if a["nesterov"]:
        return var - lr * grad - lr * momentum * accum, accum
    return var - lr * accum, accum


def _rmsprop_ref(a, var, ms, mom, lr, grad):
    ms = a["rho"] * ms + (1 - a["rho"]) * grad * grad
    mom = a["momentum"] * mom + lr * grad / np.sqrt(ms + a["epsilon"])
    return var - mom, ms, mom


def _centered_rmsprop_ref(a, var, ms, mg, mom, lr, grad):
    # TF1's ApplyCenteredRMSProp: the variance estimate is ms - mg^2 (mg: mean gradient)
    c = 1 - a["rho"]
    ms = ms + (grad * grad - ms) * c
    mg = mg + (grad - mg) * c
    mom = a["momentum"] * mom + lr * grad / np.sqrt(ms - mg * mg + a["epsilon"])
    return var - mom, ms, mg, mom


def _adam_ref(a, var, m, v, lr, t, grad):
    b1, b2 = a["beta1"], a["beta2"]
    lr_t = adam_step_size(lr, t, b1, b2)
    m = b1 * m + (1 - b1) * grad
    v = b2 * v + (1 - b2) * grad * grad
    return var - lr_t * m / (np.sqrt(v) + a["epsilon"]), m, v


def _adagrad_ref(a, var, accum, lr, grad):
    accum = accum + grad * grad
    return var - lr * grad / np.sqrt(accum), accum


# name: (input names, reference). Inputs named like the TF1 Apply* kernels.
UPDATES = {
    "apply_gradient_descent": (("var", "lr", "grad"), _sgd_ref),
    "apply_momentum": (("var", "accum", "lr", "grad", "momentum"), _momentum_ref),
    "apply_rms_prop": (("var", "ms", "mom", "lr", "grad"), _rmsprop_ref),
    "apply_adam": (("var", "m", "v", "lr", "t", "grad"), _adam_ref),
    "apply_centered_rms_prop": (("var", "ms", "mg", "mom", "lr", "grad"), _centered_rmsprop_ref),
    "apply_adagrad": (("var", "accum", "lr", "grad"), _adagrad_ref),
}


def _infer_update(names):
    gi = names.index("grad")

    def infer(s, d, a):
        return _no_outputs([s[0], s[gi]], [d[0], d[gi]], a)
    return infer


for _name, (_inputs, _ref) in UPDATES.items():
    defop(_name, "update", _infer_update(_inputs), ref=_ref, differentiable=False, stateful=True,
          heavy=True, meta={"inputs": _inputs})  # heavy: a fused optimizer update

defop("group", "control", lambda s, d, a: [], differentiable=False, runtime=True)

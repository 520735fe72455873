"""Python operators on Tensor and Variable (``+ - * / // @ ** -x abs < <= > >=``), as TF1."""
from __future__ import annotations

from ..graph import Tensor
from ..variables import Variable
from . import elementwise as ew
from .linalg import matmul
from .slicing import getitem


def _binary(fn, reflected: bool = False):
    if reflected:
        return lambda self, other: fn(other, self)
    return lambda self, other: fn(self, other)


_TABLE = {
    "add": ew.add, "sub": ew.subtract, "mul": ew.multiply, "truediv": ew.divide,
    "pow": ew.pow, "matmul": matmul, "floordiv": ew.floordiv,  # // floors, keeping the dtype (TF1)
}




def install() -> None:
    for cls in (Tensor, Variable):
        for name, fn in _TABLE.items():
            setattr(cls, f"__{name}__", _binary(fn))
            setattr(cls, f"__r{name}__", _binary(fn, reflected=True))
        cls.__neg__ = lambda self: ew.negative(self)
        cls.__pos__ = lambda self: self
        cls.__abs__ = lambda self: ew.abs(self)
        cls.__lt__ = _binary(ew.less)
        cls.__le__ = _binary(ew.less_equal)
        cls.__gt__ = _binary(ew.greater)
        cls.__ge__ = _binary(ew.greater_equal)
        cls.__and__ = _binary(ew.logical_and)
        cls.__or__ = _binary(ew.logical_or)
        cls.__invert__ = lambda self: ew.logical_not(self)
        cls.__getitem__ = getitem
        cls.__array_priority__ = 100

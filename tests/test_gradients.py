"""Finite-difference gradient checks (float64, central differences along a random direction)
for every differentiable op in the op database, on every backend."""
import pytest
from opdb import BACKENDS, OP_DB, cases, check_grads

BCAST_DB = [info for info in OP_DB if info.bcast]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("info,sample", cases(OP_DB, grad=True))
def test_gradient(info, sample, backend):
    check_grads(info, sample, backend)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("info,sample", cases(BCAST_DB, grad=True))
def test_gradient_unknown_dims(info, sample, backend):
    """Placeholders with None dims: the reverse of broadcasting happens at run time."""
    check_grads(info, sample, backend, dynamic=True)

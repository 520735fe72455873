"""Registry completeness: every op is tested (op database or a named test elsewhere), has a kernel
on every backend, and every differentiable op has a gradient rule checked by finite differences."""
import numpy as np
import pytest
from opdb import BACKENDS, COVERED_ELSEWHERE, FIRST_ORDER_ONLY, OP_DB, SESSION_KWARGS, cast_args, placeholders

import graphengine as ge
from graphengine.ops.registry import OPS
from kernels.registry import missing_kernels


def _built_op_types(grad_only: bool) -> set[str]:
    """Op types in the forward graphs of the database's entries (found by building them)."""
    seen: set[str] = set()
    for info in OP_DB:
        for s in info.samples:
            if grad_only and not (info.grad and s.grad):
                continue
            g = ge.Graph()
            with g.as_default():
                info.op(*placeholders(cast_args(s.args, "float64")), **s.kwargs)
            seen |= {op.type for op in g.get_operations()}
    return seen


def test_every_op_is_in_the_op_database_or_covered_elsewhere():
    built = _built_op_types(grad_only=False)
    untested = sorted(set(OPS) - built - set(COVERED_ELSEWHERE))
    assert not untested, f"ops neither in tests/opdb.py nor in COVERED_ELSEWHERE: {untested}"
    stale = sorted(set(COVERED_ELSEWHERE) - set(OPS))
    assert not stale, f"COVERED_ELSEWHERE names ops that are not registered: {stale}"


def test_every_gradient_rule_is_checked_by_finite_differences():
    built = _built_op_types(grad_only=True)
    need = {n for n, od in OPS.items() if od.differentiable and od.vjp is not None}
    unchecked = sorted(need - built - {"variable"})  # variables: the optimizer tests
    assert not unchecked, f"differentiable ops with no finite-difference check in tests/opdb.py: {unchecked}"


def test_every_differentiable_op_has_a_gradient_rule():
    missing = sorted(n for n, od in OPS.items()
                     if od.differentiable and od.vjp is None and n not in FIRST_ORDER_ONLY)
    assert not missing, f"differentiable ops without a vjp: {missing}"
    wrong = sorted(n for n in FIRST_ORDER_ONLY if n not in OPS or OPS[n].vjp is not None)
    assert not wrong, f"FIRST_ORDER_ONLY is stale (unregistered, or now has a vjp): {wrong}"


def test_non_differentiable_ops_have_no_gradient_rule():
    both = sorted(n for n, od in OPS.items() if not od.differentiable and od.vjp is not None)
    assert not both, f"ops marked non-differentiable that still define a vjp: {both}"


def test_elementwise_ops_have_templates():
    missing = sorted(n for n, od in OPS.items() if od.kind == "elementwise" and not od.template)
    assert not missing, f"elementwise ops without a scalar template: {missing}"


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_op_has_a_kernel(backend):
    kernel_set = SESSION_KWARGS[backend]["device"]
    assert missing_kernels(kernel_set) == []


@pytest.mark.parametrize("backend", BACKENDS)
def test_missing_kernel_error_names_op_and_backend(backend):
    from graphengine.errors import KernelNotFoundError
    from kernels.registry import get_kernel
    with pytest.raises(KernelNotFoundError, match="no_such_op.*" + SESSION_KWARGS[backend]["device"]):
        get_kernel("no_such_op", SESSION_KWARGS[backend]["device"])


def test_op_database_references_are_independent_of_opdef_ref():
    """A database entry whose reference *is* the OpDef's reference could not fail."""
    refs = {od.ref for od in OPS.values() if od.ref is not None}
    shared = [info.name for info in OP_DB if info.ref in refs]
    assert not shared, f"entries reusing OpDef.ref: {shared}"


def test_sample_inputs_are_deterministic():
    from opdb import _matmul_samples
    a, b = _matmul_samples(), _matmul_samples()
    for x, y in zip(a, b, strict=True):
        for u, v in zip(x.args, y.args, strict=True):
            np.testing.assert_array_equal(u, v)

"""OpDef flags are consistent: the facts compilers and backends ask about an op (stateful,
random, runtime-computed, step argument, host-only, no-CSE, heavy) are written once, on the op's
``defop`` block, and agree with each other and with the op's kind."""
import pytest

from graphengine.ops.registry import HEAVY_KINDS, OPS

FLAGS = ("stateful", "random", "runtime", "arg_source", "host_only", "no_cse", "view", "heavy")


def _with(flag: str) -> set[str]:
    return {n for n, od in OPS.items() if getattr(od, flag)}


@pytest.mark.parametrize("name", sorted(OPS))
def test_flags_agree(name):
    od = OPS[name]
    if od.kind == "update":
        assert od.stateful, "an update mutates variables: stateful"
    if od.random:
        assert od.stateful, "a random op draws new numbers every run: stateful"
    if od.stateful or od.kind in ("update", "control"):
        assert od.no_cse, "two of these are never the same value: no CSE"
    if od.runtime:
        assert od.kind in ("source", "control"), "the runtime computes only sources and grouping"
    if od.arg_source:
        assert od.runtime and not od.host_only, "a step argument is a value the runtime has before the step"
    if od.random and not od.arg_source:
        assert od.host_only, "a random op the step cannot take as an argument runs on the host"
    if od.view:
        assert od.num_outputs == 1 and not od.stateful, "a view is its input's data"
    if od.kind in HEAVY_KINDS:
        assert od.heavy
    if od.heavy:
        assert od.kind in HEAVY_KINDS or "inputs" in od.meta, "heavy: compute kernels, fused optimizer updates"
    assert not od.meta.get("host"), "host-side ops say so with OpDef.host_only"


def test_flags_select_what_the_name_lists_did():
    """The flags pick the same ops as the name lists they replace (kernels.registry.RUNTIME_OPS,
    the GPU backend's HOST_OPS and the executor's tuple; stepgen's ARG_SOURCES; simplify's
    _NO_CSE for sources; the step's random arguments and its hot optimizer updates)."""
    sources = {"placeholder", "const", "variable", "random", "random_shaped", "random_uniform_like"}
    assert _with("runtime") == sources | {"group"}
    assert _with("arg_source") == sources - {"random_shaped"}
    assert _with("random") == {"random", "random_shaped", "random_uniform_like"}
    assert {n for n in _with("no_cse") if OPS[n].kind in ("source", "control")} == \
        {"placeholder", "variable", "random", "random_shaped", "random_uniform_like", "group"}
    assert {n for n in _with("heavy") if OPS[n].kind == "update"} >= {
        "apply_gradient_descent", "apply_momentum", "apply_rms_prop", "apply_adam", "apply_adagrad"}
    assert {"assign", "assign_add"}.isdisjoint(_with("heavy"))
    assert _with("view") == {"reshape", "reshape_like", "expand_dims", "squeeze", "identity", "stop_gradient",
                             "placeholder_with_default"}


def test_kernel_exemption_is_the_runtime_flag():
    from kernels.registry import kernel_exempt
    assert {n for n in OPS if kernel_exempt(n)} == _with("runtime")

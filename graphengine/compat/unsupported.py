"""TF1 names graphengine does not provide: the error that says so, and the sub-namespaces
(``tf.nn``, ``tf.train``, ...) that raise it for unknown names."""
from __future__ import annotations

import types
from typing import Any

# Why some popular TF1 symbols are missing, shown in their NotImplementedError.
_HINTS = {
    "contrib.rnn": "recurrent cells are not implemented",
    "nn.rnn_cell": "recurrent cells are not implemented",
    "nn.dynamic_rnn": "recurrent networks are not implemented",
    "data": "tf.data is not implemented; use graphengine.datasets.batches",
    "examples": "run the program with `python -m graphengine.tf1 program.py`, which provides "
                "tensorflow.examples.tutorials.mnist.input_data, or use graphengine.datasets.load_mnist",
    "while_loop": "graphs here have no control flow; unroll in Python",
    "cond": "graphs here have no control flow; use tf.where",
}


# Names that tools (pytest, unittest, doctest) probe on modules expecting AttributeError.
_TOOL_PROBES = {"pytestmark", "setup_module", "teardown_module", "setUpModule", "tearDownModule",
                "setup", "teardown", "load_tests"}


def _is_probe(name: str) -> bool:
    return name.startswith("_") or name.startswith("pytest_") or name in _TOOL_PROBES


class UnsupportedTF1Error(NotImplementedError, AttributeError):
    """A TF1 symbol that graphengine.compat.v1 does not provide: an ``AttributeError`` too, so
    ``hasattr``/``getattr(tf, name, default)`` probes treat it as absent."""


def _unsupported(path: str) -> UnsupportedTF1Error:
    hint = next((h for k, h in _HINTS.items() if path == k or path.startswith(k + ".")), None)
    return UnsupportedTF1Error(f"tf.{path} is not supported by graphengine.compat.v1"
                               + (f": {hint}" if hint else "")
                               + ". See the README section 'For TensorFlow 1.x users' for what maps.")


class _Namespace(types.ModuleType):
    """A TF1 sub-namespace (``tf.nn``): listed names, NotImplementedError for the rest."""

    def __init__(self, path: str, doc: str, **members: Any) -> None:
        super().__init__(f"graphengine.compat.v1.{path}", doc)
        self._tf_path = path
        self.__dict__.update(members)

    def __getattr__(self, name: str) -> Any:
        if _is_probe(name):
            raise AttributeError(name)
        raise _unsupported(f"{self._tf_path}.{name}")

    def __dir__(self) -> list[str]:
        return sorted(k for k in self.__dict__ if not k.startswith("_"))

    def __repr__(self) -> str:
        return f"<graphengine.compat.v1 namespace tf.{self._tf_path}>"

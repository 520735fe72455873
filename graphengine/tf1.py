"""Run an unmodified TensorFlow 1.x program on graphengine.

    python -m graphengine.tf1 [--mnist-standin] program.py [args ...]

``import tensorflow as tf`` and ``import tensorflow.compat.v1 as tf`` get
``graphengine.compat.v1``; ``tensorflow.contrib.*`` imports succeed (what graphengine maps, such
as ``contrib.layers``, works; any other name raises the clear ``UnsupportedTF1Error`` when used);
``tensorflow.examples.tutorials.mnist.input_data`` reads MNIST IDX files from the program's data
directory (``--mnist-standin``: a stand-in built from the bundled digits when they are absent).
The program runs as ``__main__`` with its own ``sys.argv`` and directory on ``sys.path``; exit
codes and tracebacks are what ``python program.py`` gives.
"""
from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import runpy
import sys
import types
from typing import Any

USAGE = "usage: python -m graphengine.tf1 [--mnist-standin] program.py [args ...]"


class _Module(types.ModuleType):
    """A ``tensorflow...`` module: its attributes come from a graphengine.compat.v1 namespace
    (``path`` within it); names graphengine lacks raise UnsupportedTF1Error (an AttributeError)."""

    def __init__(self, fullname: str, path: str) -> None:
        super().__init__(fullname, f"graphengine stand-in for {fullname}")
        self.__path__: list = []  # a package: submodules import through _Finder
        self._tf_path = path

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        from graphengine.compat import v1
        target = _resolve(self._tf_path)
        if target is None:
            raise v1._unsupported(f"{self._tf_path}.{name}" if self._tf_path else name)
        value = getattr(target, name)
        self.__dict__[name] = value  # later lookups are plain attribute reads
        return value

    def __dir__(self) -> list[str]:
        target = _resolve(self._tf_path)
        return sorted(set(super().__dir__()) | set(dir(target) if target is not None else []))


def _resolve(path: str) -> Any:
    """The graphengine.compat.v1 object at a dotted TF path ("" is the module), or None."""
    from graphengine.compat import v1
    obj: Any = v1
    for part in [p for p in path.split(".") if p]:
        try:
            obj = getattr(obj, part)
        except AttributeError:
            return None
    return obj


_FIXED = {"tensorflow.examples.tutorials.mnist.input_data": "graphengine.compat.input_data"}


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports ``tensorflow`` and everything under it from graphengine."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname == "tensorflow" or fullname.startswith("tensorflow."):
            return importlib.machinery.ModuleSpec(fullname, self, is_package=fullname not in _FIXED)
        return None

    def create_module(self, spec: Any) -> Any:
        if spec.name in _FIXED:
            return _alias(spec.name, _FIXED[spec.name])
        if spec.name in ("tensorflow.compat.v1", "tensorflow.compat.v1.compat.v1"):
            return _Module(spec.name, "")
        path = spec.name.partition(".")[2]
        if path.startswith("compat.v1."):  # tensorflow.compat.v1.nn is tensorflow.nn
            path = path[len("compat.v1."):]
        return _Module(spec.name, path)

    def exec_module(self, module: Any) -> None:
        pass


def _alias(name: str, real: str) -> types.ModuleType:
    """A module named ``name`` whose namespace is the module ``real``'s."""
    import importlib
    src = importlib.import_module(real)
    mod = types.ModuleType(name, src.__doc__)
    mod.__dict__.update({k: v for k, v in vars(src).items() if not k.startswith("__")})
    return mod


def install(mnist_standin: bool = False) -> None:
    """Make ``import tensorflow`` (and its submodules) resolve to graphengine in this process."""
    if mnist_standin:
        from graphengine.compat.input_data import STANDIN_ENV
        os.environ[STANDIN_ENV] = "digits"
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())
    for name in [n for n in sys.modules if n == "tensorflow" or n.startswith("tensorflow.")]:
        del sys.modules[name]


def _user_traceback(tb: Any) -> Any:
    """Drop the runner's own frames (this module, runpy) from the top of a traceback."""
    here = os.path.abspath(__file__)
    while tb is not None and (os.path.abspath(tb.tb_frame.f_code.co_filename) == here
                              or tb.tb_frame.f_code.co_filename == runpy.__file__
                              or tb.tb_frame.f_globals.get("__name__") == "runpy"):
        tb = tb.tb_next
    return tb


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    standin = False
    while args and args[0].startswith("--"):
        opt = args.pop(0)
        if opt == "--mnist-standin":
            standin = True
        elif opt in ("--help", "-h"):
            print(USAGE + "\n\n" + __doc__)
            return 0
        else:
            print(f"{USAGE}\nunknown option {opt!r}", file=sys.stderr)
            return 2
    if not args:
        print(USAGE, file=sys.stderr)
        return 2
    prog = args[0]
    if not os.path.exists(prog):
        print(f"{sys.executable}: can't open file {os.path.abspath(prog)!r}: [Errno 2] No such file "
              "or directory", file=sys.stderr)
        return 2
    install(standin)
    sys.argv = args
    sys.path.insert(0, os.path.dirname(os.path.abspath(prog)))  # as `python program.py` puts it first
    try:
        runpy.run_path(prog, run_name="__main__")
    except SystemExit:
        raise
    except BaseException as e:  # noqa: BLE001 - reported as `python program.py` reports it
        tb = _user_traceback(e.__traceback__)
        sys.excepthook(type(e), e.with_traceback(tb), tb)
        return 130 if isinstance(e, KeyboardInterrupt) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

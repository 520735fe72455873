"""The runnable examples in public docstrings and the README's first example run as written."""
import doctest
import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import graphengine
import graphengine as ge

MODULES = sorted(m.name for m in pkgutil.walk_packages(graphengine.__path__, "graphengine."))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    mod = importlib.import_module(name)
    ge.reset_default_graph()
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"


def test_readme_model_example_runs():
    readme = Path(__file__).resolve().parent.parent / "README.md"
    code = re.findall(r"```python\n(.*?)```", readme.read_text(), re.S)[0]
    exec(compile(code, str(readme), "exec"), {})

"""Every docstring example of the package runs and shows what it claims.

The Examples sections are numpydoc doctests; this runs each module's, so
an example cannot go stale when the code under it changes.
"""

import doctest
import importlib
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1] / "skadv"


def _modules_with_examples():
    names = []
    for path in sorted(ROOT.rglob("*.py")):
        if ">>> " not in path.read_text():
            continue
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


MODULES = _modules_with_examples()


def test_the_package_has_examples():
    assert len(MODULES) >= 20


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    tests = [t for t in finder.find(module, name) if t.examples]
    assert tests, f"{name} has '>>> ' but no doctest was found"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for test in tests:
            runner.run(test)
    assert runner.failures == 0, f"{runner.failures} failing example(s) in {name}"

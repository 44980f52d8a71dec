"""The README's examples run, and its first commands are the ones CI uses."""

import doctest
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_examples_run():
    text = README.read_text()
    parser = doctest.DocTestParser()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks, "the README should carry runnable examples"
    for i, block in enumerate(blocks):
        test = parser.get_doctest(block, {}, f"README[{i}]", str(README), 0)
        runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
        runner.run(test)
        assert runner.failures == 0, f"README example {i} failed"


def test_readme_opens_with_the_two_commands():
    commands = re.findall(r"^    \$ (.*)$", README.read_text(), flags=re.M)
    assert commands[0].startswith('pip install -e ".[all]"')
    assert commands[1] == "pytest"

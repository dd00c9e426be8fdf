"""The README's first example runs as written and prints what it says."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_first_look_snippet_runs_and_the_oracle_answers_everything(capsys):
    text = README.read_text()
    block = re.search(r"## A first look\s+```python\n(.*?)```", text, re.S)
    assert block, "README has no '## A first look' python block"
    exec(compile(block.group(1), "README.md", "exec"), {})
    printed = capsys.readouterr().out.strip().splitlines()
    assert printed and float(printed[-1]) == 1.0

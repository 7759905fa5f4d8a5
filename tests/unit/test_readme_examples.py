"""The README's unit-testing example runs as written."""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _python_block_after(heading: str) -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index(heading) :]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match, f"no python block after {heading!r}"
    return match.group(1)


def test_testing_helper_example_runs() -> None:
    code = _python_block_after("### 2. Unit-test it without storage")
    sys.path.insert(0, str(ROOT))
    try:
        namespace: dict[str, object] = {}
        exec(compile(code, "README.md", "exec"), namespace)
        test = namespace["test_hello_cities"]
        assert callable(test)
        test()
    finally:
        sys.path.remove(str(ROOT))

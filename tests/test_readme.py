"""The README's Layout section matches the tree: every module it names exists, and every module of the
pack's package and of the pySigma plugin is named there, one line each."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def layout_paths() -> list[str]:
    """The paths of the Layout block, each entry joined to the folders it is indented under."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"## Layout\n\n```\n(.*?)\n```", text, re.S).group(1)
    stack: list[tuple[int, str]] = []
    paths = []
    for line in block.splitlines():
        name = line.split()[0]
        indent = len(line) - len(line.lstrip(" "))
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = "".join(folder for _, folder in stack) + name
        paths.append(path)
        if name.endswith("/"):
            stack.append((indent, name))
    return paths


def test_every_path_in_the_layout_exists():
    missing = [p for p in layout_paths() if not (ROOT / p).exists()]
    assert missing == []


def test_every_module_of_the_pack_and_the_plugin_is_in_the_layout():
    listed = set(layout_paths())
    modules = [
        p.relative_to(ROOT).as_posix()
        for folder in ("cloudtrail_pack", "backends/sigma")
        for p in (ROOT / folder).rglob("*.py")
        if p.name != "__init__.py"
    ]
    assert sorted(m for m in modules if m not in listed) == []

"""Sphinx configuration of backburner's documentation site.

Why Sphinx rather than MkDocs: the reference must be generated from the code so it cannot
drift, and Sphinx does both halves natively: autodoc reads every public name's docstring
and type hints, and sphinx-click reads the `backburner` click group, every command and
option. It is also what the pallets projects (Flask, Click, Jinja) use, so a Flask user
finds the layout familiar. MyST-Parser lets the pages be Markdown, like the README, so
text moves between them unchanged.

`make docs` (and tests/test_docs.py) build with `-W --keep-going -n`: any warning,
including a cross-reference that resolves to nothing, fails the build.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

import backburner

project = "backburner"
author = "the backburner authors"
copyright = "the backburner authors"
version = release = backburner.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx_click",
]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "README.md"]
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

html_theme = "furo"
html_title = f"backburner {release}"
pygments_style = "friendly"
# Docstrings and click help are written as the README is: `code` in single backticks.
default_role = "literal"
# "--force" stays two hyphens (not an en dash), and quotes stay as the code has them
smartquotes = False

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_default_options = {"members": True}

# Nitpicky mode resolves every name in a signature. Names from the standard library and
# third-party packages have no page here (the build runs offline, without intersphinx),
# and private helpers are not documented on purpose: only those are let through.
nitpicky = True
_EXTERNAL = (
    r"(typing|typing_extensions|collections\.abc|abc|enum|datetime|dt|contextlib|types|"
    r"concurrent\.futures|sqlite3|threading|asyncio|logging|flask|werkzeug|blinker|"
    r"psycopg|redis|click|prometheus_client|pathlib|os|decimal|uuid)(\..+)?"
)
nitpick_ignore_regex = [
    ("py:class", _EXTERNAL),
    ("py:obj", _EXTERNAL),
    ("py:data", _EXTERNAL),
    ("py:exc", _EXTERNAL),
    (
        "py:class",
        r"(P|R|T|Any|Callable|Iterable|Iterator|Sequence|Mapping|Collection|"
        r"Awaitable|Coroutine|ParamSpec|TypeVar|NamedTuple|Protocol|ABC|Enum|"
        r"NoneType|Flask|Request|Response|NamedSignal|Connection|Path)",
    ),
    (
        "py:class",
        r"(str|int|float|bool|bytes|dict|list|tuple|set|frozenset|object|type|"
        r"Exception|ImportError|BaseException)",
    ),
    ("py:class", r"backburner\.[\w.]*\._\w+"),
    ("py:class", r"P\.(args|kwargs)"),
    # type variables, and helpers a signature names but users never build themselves
    ("py:(class|obj)", r"backburner\.[\w.]+\.(P|R|T)"),
    ("py:class", r"(backburner\.task\.)?TaskOptions|backburner\.periodic\.PeriodicDecorator"),
    ("py:class", r"(backburner\.policy\.)?Ending"),
]

_CODE = re.compile(r"(``?[^`]*``?)")
_TRAILING_UNDERSCORE = re.compile(r"(?<=\w)_(?!\w)")


def plain_text(lines: list[str], *, skip_indented: bool = False) -> None:
    """Escape, outside code, what the project's docstrings and click help mean as plain
    text but reST reads as markup: `*` (cron fields, `*.py`, **kw) as emphasis, and a
    word ending in `_` (BACKBURNER_*) as a link."""
    for i, line in enumerate(lines):
        if (skip_indented and line.startswith("    ")) or line.lstrip().startswith(".. "):
            continue  # a docstring's example (a literal block), or a directive's line
        parts = _CODE.split(line)
        lines[i] = "".join(p if p.startswith("`") else _plain(p) for p in parts)


def _plain(text: str) -> str:
    return _TRAILING_UNDERSCORE.sub(r"\\_", text.replace("*", r"\*"))


def literal_examples(lines: list[str]) -> None:
    """Make an indented example after a paragraph a literal block, as the project's
    docstrings mean it (they are read as plain text in the source, not as reST)."""
    for i in range(len(lines) - 2, 0, -1):
        before, blank, after = lines[i - 1], lines[i], lines[i + 1]
        if blank.strip() or not after.startswith("    ") or not before.strip():
            continue
        if before.startswith(" ") or before.rstrip().endswith("::"):
            continue
        lines[i:i] = ["", "::"]


def _docstring(app: Any, what: str, name: str, obj: Any, options: Any, lines: list[str]) -> None:
    plain_text(lines, skip_indented=True)
    literal_examples(lines)


def _click(app: Any, ctx: Any, lines: list[str]) -> None:
    plain_text(lines)


def setup(app: Any) -> None:
    app.connect("autodoc-process-docstring", _docstring)
    for part in ("description", "usage", "options", "arguments", "envvars", "epilog"):
        app.connect(f"sphinx-click-process-{part}", _click)

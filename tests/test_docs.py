"""The documentation site builds without a warning, and its code runs.

Every page under docs/ is Markdown (MyST). A code block marked to run is written as a
`code-block` directive with `:class: runs`:

- with `:caption: some/file.py` (any file name), its text is written to that file;
- otherwise a `python` block runs with the project's Python and an `sh` block with bash,

in one fresh folder per page, in page order, with the venv's commands (`backburner`,
`flask`, `pytest`) on PATH and the page's folder and src/ on PYTHONPATH. So a page's
blocks build on each other as a reader following it would, and a block that fails (exit
status not 0) fails the test, which names the page, the block's line and its output.
Blocks without `:class: runs` are fragments (a deployment file, a sketch) and are not run.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

import backburner
import backburner.flask
import backburner.signals
import backburner.stores
from backburner import testing

ROOT = Path(__file__).parent.parent
DOCS = ROOT / "docs"
PAGES = sorted(p for p in DOCS.rglob("*.md") if "_build" not in p.parts)
BLOCK = re.compile(r"^(`{3,})\{code-block\} *(\w+)\n((?::\w+:[^\n]*\n)*)(.*?)^\1$", re.M | re.S)
OPTION = re.compile(r"^:(\w+): *(.*)$", re.M)


@dataclass(frozen=True)
class Block:
    """One runnable code block of a page."""

    language: str
    line: int
    caption: str | None
    text: str


def runnable_blocks(page: Path) -> list[Block]:
    """The blocks of `page` marked `:class: runs`, in page order."""
    source = page.read_text()
    found = []
    for match in BLOCK.finditer(source):
        options = dict(OPTION.findall(match.group(3)))
        if "runs" in options.get("class", "").split():
            line = source.count("\n", 0, match.start()) + 1
            found.append(Block(match.group(2), line, options.get("caption"), match.group(4)))
    return found


def run_block(block: Block, folder: Path, page: str) -> None:
    """Write or run one block in `folder`; fail naming the page and line if it fails."""
    if block.caption is not None:
        target = folder / block.caption
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(block.text)
        return
    bin_dir = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": f"{folder}{os.pathsep}{ROOT / 'src'}",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    env.pop("BACKBURNER_URL", None)
    env.pop("BACKBURNER_APP", None)
    if block.language == "python":
        command = [sys.executable, "-c", block.text]
    elif block.language in ("sh", "bash", "console"):
        command = ["bash", "-euo", "pipefail", "-c", block.text]
    else:
        raise AssertionError(f"{page}:{block.line}: cannot run a {block.language!r} block")
    done = subprocess.run(
        command, cwd=folder, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, (
        f"{page}:{block.line}: exit status {done.returncode}\n"
        f"--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
    )


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(DOCS)))
def test_every_runnable_block_of_the_page_runs(page: Path, tmp_path: Path) -> None:
    for block in runnable_blocks(page):
        run_block(block, tmp_path, str(page.relative_to(ROOT)))


def test_the_pages_have_runnable_blocks() -> None:
    # a marker misspelt (":class: run") would make every block silently a fragment
    assert sum(len(runnable_blocks(p)) for p in PAGES) >= 20


def test_the_docs_build_without_a_warning(tmp_path: Path) -> None:
    if importlib.util.find_spec("sphinx") is None:
        if os.environ.get("CI"):
            pytest.fail("Sphinx is missing: pip install -e '.[dev]' (the docs extra)")
        pytest.skip("Sphinx is not installed: pip install -e '.[docs]'")
    # as `make docs` does: any warning, or a cross-reference to nothing, fails the build
    strict = ["-W", "--keep-going", "-n", "-q"]
    places = ["-d", str(tmp_path / "doctrees"), str(DOCS), str(tmp_path / "html")]
    done = subprocess.run(
        [sys.executable, "-m", "sphinx", *strict, "-b", "html", *places],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    reference = tmp_path / "html" / "reference"
    assert "backburner-worker" in (reference / "cli.html").read_text()  # sphinx-click ran
    documented = (reference / "api.html").read_text()
    missing = [name for name in public_names() if f'id="{name}"' not in documented]
    assert not missing, f"add these to docs/reference/api.md: {missing}"


def public_names() -> list[str]:
    """Every name the package exports (its modules' __all__), as the reference's anchors."""
    modules = [backburner, backburner.flask, backburner.signals, backburner.stores, testing]
    return [f"{m.__name__}.{name}" for m in modules for name in m.__all__]

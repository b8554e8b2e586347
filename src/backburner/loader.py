"""Find the Backburner an `APP` argument names: "module:attr", like `flask --app`."""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

from .app import Backburner


class AppNotFound(ValueError):
    """The APP argument does not name a Backburner; the message says what to fix."""


def load_backburner(spec: str) -> Backburner:
    """Import `spec` ("pkg.module:attr", "module:factory()", or "module") with the current
    directory on sys.path and return its Backburner.

    `attr` may be a Backburner, a Flask app with backburner initialised, or a factory
    call returning either. With no ":attr" the module's single Backburner (or its
    `bb`/`app` attribute) is used.
    """
    module_name, _, attr = spec.partition(":")
    if not module_name:
        raise AppNotFound(f"APP {spec!r} is empty; use module:attribute, e.g. myapp:bb")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise AppNotFound(
                f"cannot import {module_name!r}: no such module in {os.getcwd()!r} or on "
                "sys.path; run from the folder that contains it or set PYTHONPATH"
            ) from exc
        raise AppNotFound(f"importing {module_name!r} failed: {exc}") from exc
    except Exception as exc:
        raise AppNotFound(f"importing {module_name!r} raised {type(exc).__name__}: {exc}") from exc
    target = _attribute(module, module_name, attr) if attr else _guess(module, module_name)
    bb = as_backburner(target)
    if bb is None:
        raise AppNotFound(
            f"{spec!r} is a {type(target).__name__}, not a Backburner (nor a Flask app "
            "initialised with bb.init_app(app))"
        )
    return bb


def _attribute(module: Any, module_name: str, attr: str) -> Any:
    call = attr.endswith("()")
    name = attr[:-2] if call else attr
    if not name.isidentifier():
        raise AppNotFound(f"{attr!r} is not an attribute name; use module:attr or module:factory()")
    if not hasattr(module, name):
        raise AppNotFound(f"module {module_name!r} has no attribute {name!r}")
    target = getattr(module, name)
    if call:
        try:
            target = target()
        except Exception as exc:
            raise AppNotFound(f"{module_name}:{attr} raised {type(exc).__name__}: {exc}") from exc
    return target


def _guess(module: Any, module_name: str) -> Any:
    found = [v for v in vars(module).values() if isinstance(v, Backburner)]
    if len(found) == 1:
        return found[0]
    for name in ("bb", "app", "create_app"):
        if hasattr(module, name):
            return _attribute(module, module_name, name + "()" if name == "create_app" else name)
    raise AppNotFound(f"module {module_name!r} has no Backburner; name it: {module_name}:attr")


def as_backburner(target: Any) -> Backburner | None:
    """`target` itself if a Backburner, the one a Flask app was initialised with, or None."""
    if isinstance(target, Backburner):
        return target
    extensions = getattr(target, "extensions", None)
    if isinstance(extensions, dict):
        ext = extensions.get("backburner")
        if isinstance(ext, Backburner):
            return ext
        bb = getattr(ext, "bb", None)
        if isinstance(bb, Backburner):
            return bb
    return None

"""Find the Backburner an `APP` argument names: "module:attr", like `flask --app`."""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from collections.abc import Callable
from typing import Any

from .app import Backburner


class AppNotFound(ValueError):
    """The APP argument does not name a Backburner; the message says what to fix."""


FACTORIES = ("create_app", "make_app")
"""App factory names the loader calls, as `flask --app` does."""


def load_backburner(spec: str) -> Backburner:
    """Import `spec` ("pkg.module:attr", "module:factory()", or "module") with the current
    directory first on sys.path (inserted there unless already on it, as `flask --app`
    does: its modules shadow installed ones of the same name) and return its Backburner.

    `attr` may be a Backburner, a Flask app with backburner initialised, or a factory
    call returning either. A module alone is searched as `flask --app` does: a
    `create_app()` / `make_app()` factory first, then an `app`, then its Backburner.

    A Backburner with no URL of its own (no argument, no $BACKBURNER_URL) that no Flask app
    has configured yet belongs to the app factory of its module or package, if there is
    one: the factory is called so `init_app` configures it. If that factory cannot be used,
    AppNotFound says how to fix it, rather than a worker silently using the default store.
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
    if bb.url_source == "default" and not _has_app(bb):
        _configure_from_factory(bb, spec, module_name)
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
    for name in FACTORIES:
        factory = getattr(module, name, None)
        if callable(factory) and _needs_arguments(factory) is None:
            app = _attribute(module, module_name, name + "()")
            if as_backburner(app) is None:
                raise AppNotFound(
                    f"{module_name}:{name}() returned a {type(app).__name__} without backburner; "
                    f"call bb.init_app(app) in it, or name the Backburner: {module_name}:bb"
                )
            return app
    if as_backburner(getattr(module, "app", None)) is not None:
        return module.app
    found = [v for v in vars(module).values() if isinstance(v, Backburner)]
    if len(found) == 1:
        return found[0]
    for name in ("bb", "app"):
        if hasattr(module, name):
            return getattr(module, name)
    raise AppNotFound(f"module {module_name!r} has no Backburner; name it: {module_name}:attr")


def _has_app(bb: Backburner) -> bool:
    # backburner.flask is imported by init_app: if it is not loaded, no app configured bb
    flask_ext = sys.modules.get("backburner.flask")
    return flask_ext is not None and flask_ext.bound_app(bb) is not None


def _find_factory(module_name: str) -> tuple[str, Callable[..., Any]] | None:
    """The first app factory in `module_name` or one of its parent packages (all already
    imported with it): the app a Backburner in that module belongs to."""
    parts = module_name.split(".")
    for end in range(len(parts), 0, -1):
        name = ".".join(parts[:end])
        module = sys.modules.get(name)
        for factory_name in FACTORIES:
            factory = getattr(module, factory_name, None)
            if callable(factory):
                return f"{name}:{factory_name}", factory
    return None


def _needs_arguments(factory: Callable[..., Any]) -> str | None:
    """Why `factory()` cannot be called without arguments, or None if it can."""
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):
        return None
    required = [
        p.name
        for p in signature.parameters.values()
        if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    return f"needs argument(s) {', '.join(required)}" if required else None


def _configure_from_factory(bb: Backburner, spec: str, module_name: str) -> None:
    """Let the app factory next to an unconfigured Backburner configure it, or refuse."""
    found = _find_factory(module_name)
    if found is None:
        return  # a Backburner without Flask: the default store is the documented one
    where, factory = found
    package = where.partition(":")[0]
    trouble = (
        f"{spec!r} is a Backburner with no store URL of its own (no Backburner(url), no "
        f"$BACKBURNER_URL), so it would use the default {bb.url} instead of the store "
        f"the app factory {where}() configures"
    )
    problem = _needs_arguments(factory)
    fix = f"give them defaults, so `backburner worker {package}` can call it"
    if problem is None:
        try:
            factory()
        except Exception as exc:
            problem, fix = f"raised {type(exc).__name__}: {exc}", "fix it"
    if problem is None and not _has_app(bb):
        problem, fix = "did not call bb.init_app(app) with it", "call bb.init_app(app) in it"
    if problem is not None:
        raise AppNotFound(
            f"{trouble}; but {where}() {problem}. {fix[0].upper()}{fix[1:]}, or give the "
            "store URL: Backburner(url) or $BACKBURNER_URL"
        )


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

"""The extensions, created once without an app and bound to it in `create_app()`."""

from backburner import Backburner

bb = Backburner()  # no URL here: create_app() configures it, for the worker too

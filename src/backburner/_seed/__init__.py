"""The seed article's app ("Background jobs with Flask"), rebuilt on backburner.

It lives in the package so that `backburner demo` works wherever backburner is
installed; examples/seed/ serves it with uWSGI and gunicorn. Worker: `APP` is
`backburner._seed:create_app()` (or `app:app` from examples/seed/).
"""

from .tasks import bb, spool_task, threaded_task, uwsgi_task
from .web import create_app

__all__ = ["bb", "create_app", "spool_task", "threaded_task", "uwsgi_task"]

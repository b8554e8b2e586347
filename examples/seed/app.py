"""The seed article's app on backburner: the module uWSGI, gunicorn and the worker import.

    uwsgi --ini uwsgi.ini                 # web + worker, started by uWSGI
    gunicorn -c gunicorn.conf.py          # web + worker, started by gunicorn
    backburner worker app:app             # a worker on its own (from this folder)

The code lives in the backburner package, src/backburner/_seed/ (tasks.py: the tasks,
web.py: the routes), so that `backburner demo` serves the same app from any install.
Its routes refuse a duration over web.MAX_DURATION seconds (400): a route that starts
work on a GET must bound it, or one request holds a worker for good; keep such a bound
if you copy it.
"""

from backburner._seed import bb, create_app

app = create_app()

__all__ = ["app", "bb"]

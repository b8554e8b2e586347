"""Settings of the example project, read from the environment.

$BACKBURNER_URL names the job store. By default it is a SQLite file beside the orders'
own SQLite database (both in $DATA_DIR, else this folder); a view then enqueues its
job with `transaction.on_commit`. Given a PostgreSQL URL, the orders live in that same
database (and schema), so a view can enqueue inside the order's own transaction.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("DATA_DIR", BASE_DIR))

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "an example's key: set your own")
DEBUG = os.environ.get("DJANGO_DEBUG") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
INSTALLED_APPS = ["orders"]
# no CsrfViewMiddleware: POST /orders/ is an API for scripts (curl -d item=tea ...); a site
# whose forms post there keeps it
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
ROOT_URLCONF = "mysite.urls"
WSGI_APPLICATION = "mysite.wsgi.application"
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

BACKBURNER_URL = os.environ.get("BACKBURNER_URL", f"sqlite:///{DATA_DIR / 'jobs.sqlite3'}")


def database(backburner_url: str, data_dir: Path) -> dict[str, Any]:
    """Django's default database for this job store URL: the same PostgreSQL database
    and schema as the jobs, or else a SQLite file of its own in `data_dir`."""
    url = urlsplit(backburner_url)
    if url.scheme not in ("postgresql", "postgres"):
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": data_dir / "db.sqlite3"}
    schema = parse_qs(url.query).get("schema", ["public"])[0]
    return {
        "ENGINE": "django.db.backends.postgresql",  # psycopg 3, as backburner's store uses
        "NAME": unquote(url.path.lstrip("/")),
        "USER": unquote(url.username or ""),
        "PASSWORD": unquote(url.password or ""),
        "HOST": url.hostname or "",
        "PORT": str(url.port or ""),
        "OPTIONS": {"options": f"-c search_path={schema}"},
    }


DATABASES = {"default": database(BACKBURNER_URL, DATA_DIR)}

# True when jobs and orders share one PostgreSQL database: orders/views.py then writes a
# job in the transaction that stores its order, else it enqueues after the commit
BACKBURNER_IN_TRANSACTION = DATABASES["default"]["ENGINE"].endswith("postgresql")

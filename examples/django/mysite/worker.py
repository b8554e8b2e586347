"""What the worker loads: `backburner worker mysite.worker`.

A worker is not started by Django, so this module sets Django up first (the tasks use
the ORM), then imports every installed app's `tasks` module, as Django's admin finds
each app's `admin` module, so the worker knows every task the web app can enqueue.
"""

import os

import django
from django.utils.module_loading import autodiscover_modules

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
django.setup()
autodiscover_modules("tasks")

from mysite.jobs import bb  # noqa: E402 - after django.setup(): it reads the settings

__all__ = ["bb"]

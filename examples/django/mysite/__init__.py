"""A small Django project whose orders app hands work to backburner.

mysite/settings.py   the databases, and BACKBURNER_URL
mysite/jobs.py       bb = Backburner(settings.BACKBURNER_URL)
mysite/worker.py     what `backburner worker mysite.worker` loads: Django, then the tasks
orders/tasks.py      send_receipt(order_id)
orders/views.py      POST /orders/ stores an order and enqueues its receipt;
                     GET /orders/<id>/ answers the order and its job's status
"""

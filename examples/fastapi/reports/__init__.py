"""A FastAPI app whose async routes hand report building to backburner.

reports/jobs.py   bb = Backburner() and the tasks: what `backburner worker reports.jobs` loads
reports/main.py   the FastAPI app: POST /reports enqueues, GET /jobs/{id} answers its status
"""

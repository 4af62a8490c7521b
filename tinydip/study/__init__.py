"""``tinydip study``: experiments over many images, tasks, settings and seeds.

spec.py (study files -> runs with stable keys), sources.py (images), problems.py (a task spec
-> the registered task's problem, fit and baseline: any registered task), runner.py (one run
-> a row), store.py (rows and files), engine.py (Dask distributed, imported lazily),
summary.py (markdown and figures).
Nothing here imports Dask at import time.
"""

"""``tinydip study``: experiments over many images, tasks, settings and seeds.

spec.py (study files -> runs with stable keys), sources.py (images), problems.py (a task spec
-> the registered task's problem, fit and baseline: any registered task), runner.py (one run
-> a row), store.py (rows and files, the folder's lock), table.py (the results table:
:func:`load`), cluster.py (Dask: connect, local cluster, checks), engine.py (the study's
runs, on Dask or in-process), summary.py (markdown and figures).
Nothing here imports Dask (or pandas) at import time.
"""

from .table import load

__all__ = ["load"]

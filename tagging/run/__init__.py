"""One tagging run: source files in, a committed snapshot in the store out.

options    what a run is asked to do (RunOptions)
pipeline   the stages over one DuckDB connection: ingest, clean, identity, features,
           basket, tags, models, personas, collect; each stage's work is in the module of
           its concept (tagging.clean, tagging.persons, tagging.recommend, ...)
stages     what each stage hands on to the later ones
quality    the quality report, and the gate a run must pass (usable orders)
collect    the snapshot's parts read from DuckDB for the store
runner     the stages inside the store's run bookkeeping, then drift and saved audiences
"""

from tagging.run.options import RunOptions
from tagging.run.runner import RunResult, run_tagging

__all__ = ["RunOptions", "RunResult", "run_tagging"]

"""The live path's tagging: the persons a micro-batch of live events and orders touches get
their behavioural tags recomputed on top of the last committed run, with the batch run's own
rules (`tagging.live.incremental` says how, and what it keeps in the store)."""

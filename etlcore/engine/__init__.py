"""The execution engine: a graph cut into stages, stage tasks, and the batch that runs them.

- :mod:`.stages` cuts the operator graph into stages at shuffles and builds the
  :class:`~.stages.Program` that workers receive once per job;
- :mod:`.task` is what a worker runs: one stage task in, values out;
- :mod:`.batch` is the driver's side of one batch: plan tasks, route shuffle
  blocks between stages, keep state, gather commit messages;
- :mod:`.shipping` checks before the first batch that everything a worker
  needs can be pickled, and names what cannot.
"""

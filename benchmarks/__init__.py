"""cmdprogress benchmarks: measured side by side with a baseline in the same run.

Run everything and write ``benchmarks/RESULTS.md``::

    nox -s bench                      # or: python -m benchmarks
    python -m benchmarks --quick      # a tiny run, seconds, figures meaningless

Every measurement starts the Manager simulator in its own process
(``python -m cmdprogress.testing serve``) and measures the client in this one:
the machine has two cores, one for each.
"""

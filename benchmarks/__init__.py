"""The eemw benchmark harness: eemw against raw requests and the libraries users would pick.

Run it with ``make bench`` (builds ``.bench-venv`` with the peers and writes
``benchmarks/RESULTS.md``) or ``python -m benchmarks --smoke`` for a quick pass that only
checks the harness still runs. Ratios are always to raw requests (or the bare call)
measured in the same run; targets are reported as met or not met and never fail the run.
"""

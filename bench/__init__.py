"""``make bench``: direct vs nginx vs the sidecar, side by side on one simulated workload.

Every server runs in its own process on 127.0.0.1; the load client is a separate process too
(:mod:`bench.loadgen`). The orchestrator (:mod:`bench.runner`) reads CPU time and memory from
``/proc`` and writes the table to stdout and ``bench/results/latest.md``.
"""

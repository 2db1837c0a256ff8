"""Benchmark harness for kube-addons (issue #8): `make bench` or `python -m bench --help`.

Generates addon directories, runs steady-state passes in both modes (`--exact`, the
upstream-identical calls, and the default optimised pass) against the local control
plane, and reports wall time, API requests, kubectl processes, CPU, RSS and latency.
"""

"""etlcore's benchmark suite: workloads W1-W5 across etlcore and peer engines.

Run ``python -m benchmarks --help``; ``benchmarks/README.md`` explains the
workloads, the engines, the checksums and the latest numbers.
"""

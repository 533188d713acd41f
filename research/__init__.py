"""Research diagnostics that are not benchmarks: ``python research/<name>.py key=value ...``
(``--help`` prints the script's keys from ``research/conf/<name>.yaml``). Same grammar and
provenance as the benchmarks (:mod:`benchmarks.common`); results go to ``benchmarks/results/``."""

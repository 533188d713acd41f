"""Benchmark configs (one YAML per benchmark), composed by :func:`benchmarks.common.load_config`."""

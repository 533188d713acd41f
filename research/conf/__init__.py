"""Configs of the research scripts (one YAML each), composed by :func:`benchmarks.common.load_config`."""

"""The benchmark suite: ``python -m benchmarks NAME key=value ...`` (see ``benchmarks/README.md``).

One module per benchmark (``benchmarks/<name>.py``, a function ``run(cfg) -> dict``) and one
config per benchmark (``benchmarks/conf/<name>.yaml``, every key with its default and a comment).
Results are JSON files under ``benchmarks/results/``, each with its provenance
(:func:`benchmarks.common.stamp`).
"""

"""The command line of a research script: ``--help`` prints its YAML; ``key=value`` arguments are
composed and checked like a benchmark's (:func:`benchmarks.common.load_config`)."""
from __future__ import annotations

import sys
from typing import Callable

from benchmarks.common import ConfigError, begin, config_text, load_config


def main(name: str, run: Callable[[dict], object], argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    prog = f"python research/{name}.py"
    if any(a in ("-h", "--help") for a in argv):
        print(f"# {prog} key=value ...   (research/conf/{name}.yaml)")
        print(config_text(name, "research.conf"), end="")
        return 0
    try:
        cfg = load_config(name, argv, package="research.conf", prog=prog)
    except ConfigError as e:
        print(e, file=sys.stderr)
        return 2
    begin()
    result = run(cfg)
    return result if isinstance(result, int) else 0

"""``python -m benchmarks NAME key=value ...``: run one benchmark (``--help`` lists them;
``python -m benchmarks NAME --help`` prints NAME's keys with their defaults and meaning)."""
from __future__ import annotations

import difflib
import importlib
import sys

from benchmarks.common import BENCHMARKS, ConfigError, begin, config_text, describe, load_config

USAGE = """usage: python -m benchmarks NAME [key=value ...]      (make bench NAME=... ARGS="...")
       python -m benchmarks NAME --help                  every key of NAME, default and meaning

Values use Hydra's grammar: n_a=5000, seeds=[0,1,2], rotation=true, invert_n=null,
method_kw='{"vec2vec": {"threads": 1}}'. Results go to benchmarks/results/ (key output=PATH),
each with its provenance (commit, versions, load average, the resolved config).

benchmarks:"""


def listing() -> str:
    width = max(map(len, BENCHMARKS))
    return USAGE + "\n" + "\n".join(f"  {n:<{width}}  {describe(n)}" for n in BENCHMARKS)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(listing())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in BENCHMARKS:
        close = difflib.get_close_matches(name.removeprefix("bench_"), BENCHMARKS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        print(f"unknown benchmark {name!r}{hint}; `python -m benchmarks --help` lists them",
              file=sys.stderr)
        return 2
    if any(a in ("-h", "--help") for a in rest):
        print(f"# python -m benchmarks {name} key=value ...   (benchmarks/conf/{name}.yaml)")
        print(config_text(name), end="")
        return 0
    try:
        cfg = load_config(name, rest)
    except ConfigError as e:
        print(e, file=sys.stderr)
        return 2
    begin()
    importlib.import_module(f"benchmarks.{name}").run(cfg)
    return 0


if __name__ == "__main__":
    sys.exit(main())

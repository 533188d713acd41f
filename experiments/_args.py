"""``key=value`` argument parsing shared by the benchmark scripts."""
from __future__ import annotations


def identify_tag(args: dict) -> str:
    """Path suffix for an audit benchmark run with ``identify`` other than ``[]``, so its work dir
    and results stay apart from the unknown-embedder runs."""
    return "" if args.get("identify", "[]") == "[]" else "_identify"


def parse_kv(argv: list[str], defaults: dict) -> dict:
    """Overlay ``key=value`` arguments on ``defaults``; each value takes its default's type.

    ``null``/``None`` gives None; a key whose default is None takes an int. Unknown keys exit
    with the list of valid ones.
    """
    cfg = dict(defaults)
    for a in argv:
        k, _, v = a.partition("=")
        if k not in cfg:
            raise SystemExit(f"unknown key {k!r}; valid: {', '.join(cfg)}")
        if v in ("null", "None"):
            cfg[k] = None
        else:
            cfg[k] = type(defaults[k])(v) if defaults[k] is not None else int(v)
    return cfg

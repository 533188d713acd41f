"""What every benchmark shares: one ``key=value`` grammar for its config, provenance, results.

- :func:`load_config` composes ``benchmarks/conf/<name>.yaml`` with Hydra overrides
  (``n_a=5000``, ``seeds=[0,1,2]``, ``output=PATH``), the way ``vec2vec.config.load`` does for
  the commands: every key is listed in the YAML with a comment, and an unknown key is refused
  before anything runs, naming the closest valid one. Two conveniences on top of Hydra's grammar:
  a key whose default is a list takes ``a,b`` as ``[a,b]`` (Hydra would read a sweep) and ``a`` as
  ``[a]``, and a key
  whose default is a dict (``method_kw``) takes JSON or YAML text,
  ``method_kw='{"vec2vec": {"threads": 1}}'``.
- :func:`stamp` is the provenance of a result: commit, dirty tree, date, versions, cores, load
  average at the start and the end, the full resolved config.
- :func:`write_result` writes a result JSON atomically with its provenance.
"""
from __future__ import annotations

import datetime
import difflib
import importlib.metadata
import importlib.resources
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path("benchmarks") / "results"      # relative to the repository root

# every benchmark, in the order ``python -m benchmarks --help`` lists them
BENCHMARKS = ("embed", "methods", "ceiling", "pairs", "verdict", "known_pairs", "translate",
              "align", "audit", "defences", "invert", "invert_speed", "invert_translated", "polish")
# packages whose versions each result records (the first installed distribution of each)
VERSIONED = {"vec2vec": ("vec2vec",), "torch": ("torch",), "numpy": ("numpy",),
             "faiss": ("faiss-cpu", "faiss-gpu", "faiss"),
             "sentence-transformers": ("sentence-transformers",),
             "transformers": ("transformers",)}


class ConfigError(ValueError):
    """A bad ``key=value`` argument: the message names the key and what is valid."""


# ----- config ---------------------------------------------------------------------------------
def config_text(name: str, package: str = "benchmarks.conf") -> str:
    """The YAML of a benchmark (every key, its default and a comment): its ``--help``."""
    path = importlib.resources.files(package) / f"{name}.yaml"
    return path.read_text() if path.is_file() else ""


def describe(name: str, package: str = "benchmarks.conf") -> str:
    """One line about a benchmark: the first comment line of its YAML."""
    for line in config_text(name, package).splitlines():
        if line.startswith("#"):
            return line.lstrip("# ").strip()
    return ""


def _compose(name: str, package: str, overrides: list[str], prog: str) -> dict:
    from hydra import compose, initialize_config_module
    from hydra.errors import HydraException
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    try:
        with initialize_config_module(config_module=package, version_base=None):
            cfg = compose(config_name=name, overrides=list(overrides))
    except (HydraException, OmegaConfBaseException) as e:
        first = str(e).strip().splitlines()[0]
        raise ConfigError(f"{prog}: bad arguments: {first} (`{prog} --help` lists every key)"
                          ) from None
    return OmegaConf.to_container(cfg, resolve=True)


def load_config(name: str, overrides: list[str] | None = None, package: str = "benchmarks.conf",
                prog: str | None = None) -> dict[str, Any]:
    """The resolved config of benchmark ``name`` with ``key=value`` ``overrides``, as a plain dict.

    Keys the YAML does not list are refused (with the closest valid key) before anything runs;
    so are ``+key`` / ``~key`` (every key is listed) and arguments without ``=``."""
    prog = prog or f"python -m benchmarks {name}"
    defaults = _compose(name, package, [], prog)
    hydra_args, free = [], {}
    for arg in overrides or []:
        key, eq, value = arg.partition("=")
        if not eq or not key:
            raise ConfigError(f"{prog}: argument {arg!r} is not key=value "
                              f"(`{prog} --help` lists every key)")
        if key[:1] in "+~" and key[1:] in defaults:
            raise ConfigError(f"{prog}: {key[1:]!r} is already a key: write {key[1:]}={value} "
                              "(every key is listed; none is added or removed)")
        if key not in defaults:
            close = difflib.get_close_matches(key.lstrip("+~"), sorted(defaults), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ConfigError(f"{prog}: unknown key {key!r}; {hint}"
                              f"(`{prog} --help` lists every key)")
        default = defaults[key]
        if isinstance(default, dict):           # free-form: JSON or YAML text
            free[key] = _parse_mapping(key, value, prog)
            continue
        if isinstance(default, list) and not value.lstrip().startswith(("[", "'", '"')):
            if not value.strip():
                value = "[]"                    # key= -> an empty list
            elif "," in value:
                value = f"[{value}]"            # a,b -> [a,b] for a list-valued key
        hydra_args.append(f"{key}={value}")
    cfg = _compose(name, package, hydra_args, prog)
    for key, default in defaults.items():      # a list key given one value: a one-item list
        if isinstance(default, list) and cfg[key] is not None and not isinstance(cfg[key], list):
            cfg[key] = [cfg[key]]
    cfg.update(free)
    return cfg


def _parse_mapping(key: str, text: str, prog: str) -> dict:
    import yaml

    try:
        value = yaml.safe_load(text) if text.strip() else {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{prog}: {key}={text!r} is not JSON/YAML ({str(e).splitlines()[0]})"
                          ) from None
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{prog}: {key} must be a mapping such as "
                          f"'{{\"vec2vec\": {{\"threads\": 1}}}}', got {text!r}")
    return value


def output_path(cfg: dict, default_name: str) -> Path:
    """Where a benchmark writes its result: ``cfg["output"]`` if set, else
    ``benchmarks/results/<default_name>`` under the repository root. Records the choice in
    ``cfg["output"]`` (repository-relative when under the root)."""
    path = Path(cfg["output"]) if cfg.get("output") else ROOT / RESULTS / default_name
    cfg["output"] = rel_path(path)
    return path


def rel_path(path: str | os.PathLike) -> str:
    """``path`` relative to the repository root when it lies under it (for records), else as is."""
    path = Path(path)
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def size_tag(n: int) -> str:
    """``100000`` -> ``"100k"``, ``1500`` -> ``"1500"``: sizes in result file names."""
    return f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else str(n)


# ----- provenance -----------------------------------------------------------------------------
def _loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


# the start of this run; :func:`begin` resets it (``python -m benchmarks`` calls it before a run)
_START = {"time": time.time(), "loadavg": _loadavg()}


def begin() -> None:
    """Mark the start of a benchmark: its wall time and load average at the start."""
    _START.update(time=time.time(), loadavg=_loadavg())


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode == 0 else None


def versions() -> dict[str, str | None]:
    """Installed versions of the packages results depend on (None: not installed)."""
    out = {}
    for name, dists in VERSIONED.items():
        out[name] = None
        for dist in dists:
            try:
                out[name] = importlib.metadata.version(dist)
                break
            except importlib.metadata.PackageNotFoundError:
                continue
    return out


def stamp(config: dict | None = None) -> dict[str, Any]:
    """Provenance of a result written now: git commit and whether tracked files differ from it
    (result files under benchmarks/results excluded), UTC date, Python and package versions,
    cores, load average at the start of the run and now, wall seconds, command line, and the
    full resolved ``config``."""
    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no", "--", ".",
                  f":(exclude){RESULTS.as_posix()}")
    dirty = None if status is None else [line[3:] for line in status.splitlines() if line.strip()]
    return {
        "git_commit": commit.strip() if commit else None,
        "git_dirty": None if dirty is None else bool(dirty),
        "dirty_files": None if dirty is None else dirty[:50],
        "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "started_utc": datetime.datetime.fromtimestamp(_START["time"], datetime.timezone.utc)
        .strftime("%Y-%m-%dT%H:%M:%SZ"),
        "wall_seconds": round(time.time() - _START["time"], 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions(),
        "cpu_count": os.cpu_count(),
        "loadavg_start": _START["loadavg"],
        "loadavg_end": _loadavg(),
        "argv": list(sys.argv),
        "config": config,
    }


def write_result(path: str | os.PathLike, payload: dict, config: dict | None = None) -> Path:
    """Write ``payload`` with ``"provenance": stamp(config)`` as JSON at ``path``, atomically
    (``config`` defaults to ``payload["config"]``). Long benchmarks call it after every step, so
    a killed run keeps what it finished. Returns the path."""
    from vec2vec.data.io import write_json

    path = Path(path)
    if config is None:
        config = payload.get("config")
    write_json(path, {**payload, "provenance": stamp(config)})
    return path


# ----- shared by the inversion benchmarks -----------------------------------------------------
def polish_variants(name: str, res: list[dict]) -> list[tuple[str, list[str], dict]]:
    """(row name, texts, extra fields) per variant of one ``inversion.infer.invert`` run's
    results ``res``: the texts before the polish under ``name`` (queries without the polish's)
    and, if the polish ran (every result has ``polish_queries``; 0 rounds gives 0), the final
    texts under ``name+polish``."""
    queries = np.array([r["queries"] for r in res], dtype=float)
    polish_q = np.array([r.get("polish_queries", 0) for r in res], dtype=float)
    base = {"mean_queries": float(np.mean(queries - polish_q)),
            "mean_steps": float(np.mean([r["steps"] for r in res])),
            "hyp_cosine": float(np.mean([r["hypothesis_cosine"] for r in res])),
            # the loop must never end worse than anything it saw
            "never_worse": bool(all(r["cosine"] >= max(r["history"]) - 1e-6 for r in res))}
    out = [(name, [r.get("unpolished", r["text"]) for r in res], base)]
    if polish_q.any():
        out.append((f"{name}+polish", [r["text"] for r in res],
                    {**base, "mean_queries": float(queries.mean()),
                     "polish_queries": float(polish_q.mean()),
                     "mean_polish_edits": float(np.mean([r["polish_edits"] for r in res]))}))
    return out


def identify_tag(identify) -> str:
    """File-name suffix of an audit run with ``identify`` set (``auto`` or names): its work dir
    and result stay apart from the unknown-embedder runs (``identify=[]``, the default)."""
    return "" if identify in (None, False, [], "[]", "") else "_identify"

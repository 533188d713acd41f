"""One config convention for every command: ``vec2vec <command> key=value ...``.

Each command has a primary YAML (``vec2vec/conf/<name>.yaml``; inversion commands:
``inversion/conf/<name>.yaml``) that lists every key with its default and a comment saying what it
means; ``--help`` prints that file. Overrides use Hydra's grammar (``seeds=[0,1,2]``,
``sizes.a=5000``, ``method=mini-vec2vec method.n_clusters=30``). :func:`load`:

- renames deprecated keys (``ALIASES``) with a warning, for one release;
- refuses keys the YAML does not list (typos included), naming the closest valid key, *before*
  anything runs. Hydra's ``+key=value`` (add a key) is refused the same way: every key is listed.
  The contents of free-form dicts (``FREE_FORM``: per-method knobs of the audit) are checked by
  the code that uses them;
- returns a plain, resolved dict.

The same idea has the same key in every command: ``input`` (vectors read), ``output`` (a file
written), ``out_dir`` (a folder written), ``run_dir`` (a training run), ``seed``, ``split_seed``
(seed of the corpus split), ``threads`` (0 = all cores), ``device``, ``resume``, ``progress``,
``overwrite``.
"""
from __future__ import annotations

import difflib
import importlib.resources
import sys
from typing import Any

# command -> (config name, config package)
CONFIGS = {
    "embed": ("embed", "vec2vec.conf"), "train": ("train", "vec2vec.conf"),
    "evaluate": ("evaluate", "vec2vec.conf"), "translate": ("translate", "vec2vec.conf"),
    "align": ("align", "vec2vec.conf"), "audit": ("audit", "vec2vec.conf"),
    "identify": ("identify", "vec2vec.conf"), "defend": ("defend", "vec2vec.conf"),
    "invert-train": ("train", "inversion.conf"), "invert": ("invert", "inversion.conf"),
    "demo": ("demo", "vec2vec.conf"),
}
# deprecated key -> current key, per command (accepted with a warning for one release)
ALIASES = {
    "embed": {"out": "output", "seed": "split_seed"},
    "identify": {"leaked": "input", "out": "output"},
    "audit": {"leaked": "input", "out": "out_dir"},
    # ``embedders`` is also the name of the embedder config group: Hydra would read a group choice
    "align": {"out": "out_dir", "embedders": "embedder_names"},
    "train": {"data_seed": "split_seed"},
    "invert": {"vectors": "input", "out": "output"},
    "invert-train": {"corpus_seed": "split_seed"},
}
# dict-valued keys whose contents are free-form here and validated by the code that uses them
FREE_FORM = ("method_configs", "method.warm_start_config", "method.leg_config",
             "method.final_config")
# config groups: ``key=choice`` picks a file of the group (``method=mini-vec2vec``)
GROUPS = ("method",)


class ConfigError(ValueError):
    """A bad override or config: the message says which key and what is valid."""


def _split(override: str) -> tuple[str, str, str]:
    """``'+a.b=1'`` -> (prefix ``'+'``, key ``'a.b'``, rest ``'=1'``)."""
    prefix = override[: len(override) - len(override.lstrip("+~"))]
    body = override[len(prefix):]
    key, eq, value = body.partition("=")
    return prefix, key, eq + value


def rename_aliases(command: str, overrides: list[str]) -> list[str]:
    """Overrides with deprecated keys of ``command`` replaced by their current names (warned)."""
    aliases = ALIASES.get(command, {})
    out = []
    for o in overrides:
        prefix, key, rest = _split(o)
        head, dot, tail = key.partition(".")
        if head in aliases:
            new = aliases[head]
            if head != "embedders":   # a documented spelling, not a deprecation
                print(f"vec2vec {command}: note: key {head!r} is deprecated (kept for one "
                      f"release), use {new!r}", file=sys.stderr)
            o = prefix + new + dot + tail + rest
        out.append(o)
    return out


def _flat_keys(cfg: Any, prefix: str = "") -> set[str]:
    """Every key path of a nested dict (``{"a": {"b": 1}}`` -> {"a", "a.b"})."""
    keys = set()
    if isinstance(cfg, dict):
        for k, v in cfg.items():
            path = f"{prefix}{k}"
            keys.add(path)
            if path not in FREE_FORM:
                keys |= _flat_keys(v, path + ".")
    return keys


def _compose(name: str, module: str, overrides: list[str]):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    try:
        with initialize_config_module(config_module=module, version_base=None):
            return hydra_compose(config_name=name, overrides=list(overrides))
    except (HydraException, OmegaConfBaseException) as e:
        first = str(e).strip().splitlines()[0]
        raise ConfigError(f"bad arguments for '{name}': {first} "
                          f"(`vec2vec {name} --help` lists every key)") from None


def check_keys(command: str, overrides: list[str], valid: set[str]) -> None:
    """Refuse overrides whose key is not listed (outside free-form dicts), naming the closest."""
    for o in overrides:
        prefix, key, rest = _split(o)
        if not rest and not prefix:
            raise ConfigError(f"vec2vec {command}: argument {o!r} is not key=value "
                              f"(`vec2vec {command} --help` lists every key)")
        if key in GROUPS or any(key == f or key.startswith(f + ".") for f in FREE_FORM):
            continue
        if key in valid and prefix != "+":
            continue
        if key in valid:   # '+key' for a listed key: a plain 'key=' is the way
            raise ConfigError(f"vec2vec {command}: {key!r} is already a key; write {key}{rest} "
                              f"without '+'")
        close = difflib.get_close_matches(key, sorted(valid), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ConfigError(f"vec2vec {command}: unknown key {key!r}; {hint}"
                          f"`vec2vec {command} --help` lists every key")


def load(command: str, overrides: list[str] | None = None) -> dict[str, Any]:
    """The resolved config of ``vec2vec <command>`` with ``overrides``, as a plain dict; unknown
    keys refused and deprecated ones renamed (module docstring)."""
    name, module = CONFIGS[command]
    overrides = rename_aliases(command, list(overrides or []))
    groups = [o for o in overrides if _split(o)[1] in GROUPS]
    valid = _flat_keys(to_dict(_compose(name, module, groups)))
    check_keys(command, overrides, valid)
    # keys inside a free-form dict may not exist yet: Hydra adds or replaces them with '++'
    overrides = [f"++{_split(o)[1]}{_split(o)[2]}" if any(_split(o)[1].startswith(f + ".")
                                                          for f in FREE_FORM) else o
                 for o in overrides]
    return to_dict(_compose(name, module, overrides))


def compose(name: str, overrides: list[str] | None = None, module: str = "vec2vec.conf"):
    """Compose config ``name`` from ``module`` with ``overrides`` -> OmegaConf DictConfig (no key
    checks; commands use :func:`load`)."""
    return _compose(name, module, list(overrides or []))


def to_dict(cfg) -> dict[str, Any]:
    """Resolved plain-dict copy of a config (for JSON records and keyword arguments)."""
    from omegaconf import OmegaConf

    return OmegaConf.to_container(cfg, resolve=True)


def config_text(name: str, module: str = "vec2vec.conf") -> str:
    """A config file's text (its comments document every key) for ``--help``."""
    path = importlib.resources.files(module) / f"{name}.yaml"
    return path.read_text() if path.is_file() else ""


def help_text(command: str, overrides: list[str]) -> str:
    """Every key of ``command`` with default and meaning: its YAML, and for ``train`` the YAML of
    the chosen method (``method=...`` among the overrides, else the default)."""
    name, module = CONFIGS[command]
    text = config_text(name, module)
    if command == "train":
        choice = next((_split(o)[2][1:] for o in overrides if _split(o)[1] == "method"), None)
        if choice is None:
            choice = to_dict(_compose(name, module, []))["method"]["name"]
        text += (f"\n# ---- method {choice}: method.<key>=value "
                 f"(vec2vec/conf/method/{choice}.yaml)\n" + config_text(f"method/{choice}", module))
    return text

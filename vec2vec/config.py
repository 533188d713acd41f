"""Hydra config composition for the CLI: ``key=value`` overrides on a command's primary config.

Each command ``vec2vec <cmd>`` has a primary config ``vec2vec/conf/<cmd>.yaml`` (inversion
commands: ``inversion/conf/<cmd>.yaml``); config groups ``embedders/`` and ``corpora/`` describe the
registry entries. Overrides use Hydra's grammar (``seeds=[0,1,2]``, ``+new_key=1``, ``sizes.a=5000``).
"""
from __future__ import annotations

from typing import Any


class ConfigError(ValueError):
    """A bad override or config: the message says which key and what is valid."""


def compose(name: str, overrides: list[str] | None = None, module: str = "vec2vec.conf"):
    """Compose config ``name`` from ``module`` with ``overrides`` -> OmegaConf DictConfig."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    try:
        with initialize_config_module(config_module=module, version_base=None):
            return hydra_compose(config_name=name, overrides=list(overrides or []))
    except (HydraException, OmegaConfBaseException) as e:
        raise ConfigError(f"bad arguments for '{name}': {e}\n"
                          f"(run `vec2vec {name} --help` for the valid keys)") from None


def to_dict(cfg) -> dict[str, Any]:
    """Resolved plain-dict copy of a config (for JSON records and keyword arguments)."""
    from omegaconf import OmegaConf

    return OmegaConf.to_container(cfg, resolve=True)


def config_text(name: str, module: str = "vec2vec.conf") -> str:
    """The primary config file's text (its comments document every key) for ``--help``."""
    import importlib.resources

    pkg = importlib.resources.files(module)
    path = pkg / f"{name}.yaml"
    return path.read_text() if path.is_file() else ""

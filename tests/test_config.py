"""One config convention for every command: the same keys for the same ideas, --help from the
YAML, typos refused before anything runs, deprecated keys renamed, thread limits restored."""
from __future__ import annotations

import os

import pytest
import torch

from vec2vec import config
from vec2vec.cli import COMMANDS, main
from vec2vec.config import ConfigError, load
from vec2vec.runtime import cpu_threads, thread_limit


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_help_lists_every_key_of_the_command(command, capsys):
    assert main([command, "--help"]) == 0
    out = capsys.readouterr().out
    cfg = load(command, [])
    for key in set(cfg) - set(config.GROUPS):   # a group (method) is chosen in its defaults list
        assert f"\n{key}:" in out or out.startswith(f"{key}:"), (command, key)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_shared_keys_mean_the_same_everywhere(command):
    cfg = load(command, [])
    if "threads" in cfg:
        assert cfg["threads"] == 0, "threads: 0 (= all cores) is the default of every command"
    if "resume" in cfg:
        assert cfg["resume"] is False
    for old in ("leaked", "vectors", "out", "data_seed", "corpus_seed"):
        assert old not in cfg, f"{command} still has the old key {old!r}"
    if "output" in cfg or "out_dir" in cfg:
        assert not ("output" in cfg and "out_dir" in cfg)


def test_typos_are_refused_with_the_closest_key():
    with pytest.raises(ConfigError, match="did you mean 'limit'"):
        load("embed", ["limt=3"])
    with pytest.raises(ConfigError, match="unknown key 'frobnicate'"):
        load("embed", ["+frobnicate=1"])
    with pytest.raises(ConfigError, match="without '\\+'"):
        load("embed", ["+limit=3"])
    with pytest.raises(ConfigError, match="did you mean 'method.n_clusters'"):
        load("train", ["method=mini-vec2vec", "method.n_cluster=5"])
    with pytest.raises(ConfigError, match="not key=value"):
        load("embed", ["limit"])
    # per-method knobs of the audit are free-form here (checked by each method's constructor)
    assert load("audit", ["method_configs.vec2vec.steps=5"])["method_configs"] == {"vec2vec": {"steps": 5}}
    assert load("train", ["method=mini-vec2vec", "method.n_clusters=5"])["method"]["n_clusters"] == 5


def test_deprecated_keys_still_work_and_say_so(capsys):
    cfg = load("audit", ["leaked=x.npy", "out=dir"])
    assert cfg["input"] == "x.npy" and cfg["out_dir"] == "dir"
    err = capsys.readouterr().err
    assert "'leaked' is deprecated" in err and "use 'input'" in err
    assert load("train", ["data_seed=3"])["split_seed"] == 3
    assert load("invert", ["vectors=v.npy", "out=o.jsonl"])["output"] == "o.jsonl"
    assert load("align", ["embedders=[minilm,mpnet]"])["embedder_names"] == ["minilm", "mpnet"]


def test_every_yaml_key_has_a_comment():
    """--help is the YAML: a key without a comment is a key without documentation."""
    for command, (name, module) in config.CONFIGS.items():
        text = config.config_text(name, module)
        for line in text.splitlines():
            if line and not line.startswith((" ", "#", "-", "defaults")) and ":" in line:
                key = line.split(":")[0]
                if key in ("sources", "val_sources", "sizes", "corpus_opts", "method_configs"):
                    continue   # a block: its comment is on the line or its children's
                assert "#" in line, f"{module}/{name}.yaml: {key!r} has no comment"


def test_thread_limit_restores_and_never_writes_the_environment():
    before = torch.get_num_threads()
    env = {k: v for k, v in os.environ.items() if k.startswith("VEC2VEC")}
    with thread_limit(1):
        assert torch.get_num_threads() == 1 and cpu_threads() == 1
        with thread_limit(2):
            assert cpu_threads() == 2
        assert cpu_threads() == 1
    vec2vec_env = lambda: {k: v for k, v in os.environ.items() if k.startswith("VEC2VEC")}  # noqa: E731
    assert torch.get_num_threads() == before and vec2vec_env() == env
    with thread_limit(0):   # 0 = no limit: nothing changes
        assert torch.get_num_threads() == before

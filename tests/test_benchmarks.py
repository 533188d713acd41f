"""The benchmark suite's shape: ``python -m benchmarks`` lists every benchmark, each one's --help
prints its YAML and refuses misspelled keys, every result carries provenance, and one real
benchmark (translate, tiny) runs end to end into a stamped JSON."""
from __future__ import annotations

import importlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:      # benchmarks/ and research/ are run from the root, not installed
    sys.path.insert(0, str(ROOT))

from benchmarks import common  # noqa: E402
from benchmarks.__main__ import main  # noqa: E402
from benchmarks.common import BENCHMARKS, ConfigError, load_config, stamp  # noqa: E402

RESEARCH = ("diagnose_pair", "gan_from_scratch", "sweep_gan", "align_vs_translation")


def yaml_keys(text: str) -> list[str]:
    return [m.group(1) for m in re.finditer(r"^([A-Za-z_][A-Za-z0-9_]*):", text, re.M)]


def test_help_lists_every_benchmark():
    out = subprocess.run([sys.executable, "-m", "benchmarks", "--help"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    listed = re.findall(r"^  (\w+)\s", out.stdout, re.M)
    assert listed == list(BENCHMARKS)
    assert set(BENCHMARKS) == {p.stem for p in (ROOT / "benchmarks" / "conf").glob("*.yaml")}
    assert not (ROOT / "experiments").exists(), "experiments/ moved to benchmarks/ and research/"


def test_unknown_benchmark_is_refused_with_the_closest(capsys):
    assert main(["bench_methods"]) == 2
    assert "did you mean 'methods'" in capsys.readouterr().err


@pytest.mark.parametrize("name", BENCHMARKS)
def test_each_benchmark_help_documents_every_key_and_refuses_typos(name, capsys):
    assert main([name, "--help"]) == 0
    text = capsys.readouterr().out
    cfg = load_config(name, [])
    keys = yaml_keys(text)
    assert keys == list(cfg), "the help is the YAML: every key, in order"
    assert "output" in cfg and cfg["output"] is None, "every benchmark writes to output=PATH"
    for line in text.splitlines():
        if re.match(r"^[A-Za-z_]\w*:", line):
            assert "#" in line, f"{name}: key without a comment: {line!r}"
    module = importlib.import_module(f"benchmarks.{name}")
    assert callable(module.run)
    key = max(cfg, key=len)
    typo = key[:-1] + ("x" if key[-1] != "x" else "y")
    with pytest.raises(ConfigError, match=f"did you mean '{key}'"):
        load_config(name, [f"{typo}=1"])
    assert main([name, f"{typo}=1"]) == 2
    with pytest.raises(ConfigError, match="already a key"):
        load_config(name, [f"+{key}=1"])


def test_one_grammar_lists_dicts_and_flags():
    cfg = load_config("methods", ["seeds=[0,1]", "methods=vec2vec", "rotation=true",
                                  """method_kw={"vec2vec": {"threads": 1}}""", "n_a=500"])
    assert cfg["seeds"] == [0, 1] and cfg["methods"] == ["vec2vec"] and cfg["rotation"] is True
    assert cfg["method_kw"] == {"vec2vec": {"threads": 1}} and cfg["n_a"] == 500
    assert load_config("invert", ["corpora=foldoc", "methods=retrieval,corrected"])["methods"] == [
        "retrieval", "corrected"]
    assert load_config("pairs", ["small_n={mpnet: 2000}"])["small_n"] == {"mpnet": 2000}
    assert load_config("audit", ["identify=auto"])["identify"] == "auto"
    with pytest.raises(ConfigError, match="not key=value"):
        load_config("methods", ["rotation"])
    with pytest.raises(ConfigError, match="mapping"):
        load_config("methods", ["method_kw=[1]"])


def test_stamp_records_commit_versions_load_and_config():
    s = stamp({"n": 3})
    assert s["config"] == {"n": 3}
    assert s["git_commit"] is None or re.fullmatch(r"[0-9a-f]{40}", s["git_commit"])
    assert s["git_dirty"] in (True, False, None)
    assert set(s["versions"]) == {"vec2vec", "torch", "numpy", "faiss", "sentence-transformers",
                                  "transformers"}
    assert s["versions"]["numpy"] and s["versions"]["vec2vec"]
    assert s["cpu_count"] >= 1 and s["python"].count(".") == 2
    for key in ("loadavg_start", "loadavg_end"):
        assert s[key] is None or len(s[key]) == 3
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", s["date_utc"])


def test_translate_runs_end_to_end_into_a_stamped_json(tmp_path, capsys):
    out = tmp_path / "res" / "translate.json"
    assert main(["translate", "n=2048", "threads=1", "repeats=1", "chunk=512",
                 f"output={out}"]) == 0
    assert "vectors/s" in capsys.readouterr().out
    rec = json.loads(out.read_text())
    assert [(r["path"], r["direction"]) for r in rec["rows"]] == [
        ("in-memory", "ab"), ("streaming .npy", "ab"), ("in-memory", "ba"), ("streaming .npy", "ba")]
    assert all(r["vectors_per_s"] > 0 for r in rec["rows"])
    prov = rec["provenance"]
    assert prov["config"]["n"] == 2048 and prov["config"]["output"] == str(out)
    assert prov["versions"]["torch"] and prov["argv"]
    assert [p.name for p in out.parent.iterdir()] == ["translate.json"]   # no temporary left


def test_every_kept_result_has_provenance():
    files = sorted((ROOT / "benchmarks" / "results").rglob("*.json"))
    assert files
    for f in files:
        rec = json.loads(f.read_text())
        prov = rec.get("provenance")
        assert isinstance(prov, dict), f"{f.name}: no provenance"
        if prov.get("retroactive"):
            assert re.fullmatch(r"[0-9a-f]{40}", prov["commit_added"]), f.name
        else:
            assert prov["git_commit"] and prov["versions"], f.name
        if rec.get("reproducible") is False:
            assert rec.get("why"), f"{f.name}: not reproducible, but no reason given"


@pytest.mark.parametrize("script", RESEARCH)
def test_research_scripts_print_their_keys(script):
    out = subprocess.run([sys.executable, f"research/{script}.py", "--help"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    cfg = load_config(script, [], package="research.conf")
    assert yaml_keys(out.stdout) == list(cfg) and "output" in cfg


def test_write_result_is_atomic_and_stamped(tmp_path):
    path = common.write_result(tmp_path / "a" / "r.json", {"config": {"k": 1}, "rows": [1]})
    rec = json.loads(path.read_text())
    assert rec["rows"] == [1] and rec["provenance"]["config"] == {"k": 1}
    assert sorted(p.name for p in path.parent.iterdir()) == ["r.json"]

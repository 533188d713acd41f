"""Fault injection with real processes: ``kill -9`` at seeded moments, a full disk, a read-only
output folder. After a kill, the same command (``resume=true`` where it applies) ends with what an
uninterrupted run writes; a failure leaves nothing half-written at the output path and says
what went wrong in one line."""
from __future__ import annotations

import os
import random
import resource
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow
CLI = [sys.executable, "-m", "vec2vec.cli"]
# kill moments per command: 2 keep `make test` within its time; VEC2VEC_FAULT_POINTS=10 for more
POINTS = int(os.environ.get("VEC2VEC_FAULT_POINTS", 2))


def _env(cache: Path) -> dict:
    return {**os.environ, "VEC2VEC_CACHE": str(cache), "VEC2VEC_THREADS": "1"}


def _kill_at(cmd: list[str], env: dict, after: float) -> int:
    """Start ``cmd``, SIGKILL it ``after`` seconds later (if still running); its return code."""
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        p.wait(timeout=after)
    except subprocess.TimeoutExpired:
        p.send_signal(signal.SIGKILL)
        p.wait()
    return p.returncode


def _no_temporaries(folder: Path) -> list[str]:
    return [str(p) for p in folder.rglob("*.tmp")] + [str(p) for p in folder.rglob(".tmp-*")]


def test_kill_during_embed_then_rerun_gives_the_same_vectors(tmp_path):
    args = ["embed", "embedder=minilm-l3", "corpus=gcide-definitions", "split=a", "limit=2000",
            "batch_size=32", "progress=false"]
    want = tmp_path / "want.npy"
    subprocess.run(CLI + args + [f"output={want}"], env=_env(tmp_path / "c0"), check=True,
                   capture_output=True)
    rng = random.Random(0)
    for k in range(POINTS):   # seeded kill moments over the embedding's span
        cache, out = tmp_path / f"c{k + 1}", tmp_path / f"got{k}.npy"
        _kill_at(CLI + args + [f"output={out}"], _env(cache), after=rng.uniform(4, 10))
        assert not out.exists() or np.array_equal(np.load(out), np.load(want))
        subprocess.run(CLI + args + [f"output={out}"], env=_env(cache), check=True,
                       capture_output=True)
        np.testing.assert_array_equal(np.load(out), np.load(want))
        assert not _no_temporaries(cache) and not _no_temporaries(tmp_path / "c0")


def test_kill_during_train_then_resume_gives_the_same_translator(tmp_path):
    args = ["train", "method=vec2vec", "source=minilm-l3", "target=minilm", "n_a=1500", "n_b=1500",
            "method.warm_start=null", "method.steps=60", "method.width=64", "method.batch_size=128",
            "method.pseudo_pool=512", "method.threads=1", "ckpt_every=5", "progress=false"]
    cache = tmp_path / "c"
    subprocess.run(CLI + args + [f"run_dir={tmp_path / 'want'}"], env=_env(cache), check=True,
                   capture_output=True)
    want = (tmp_path / "want/translator/weights.safetensors").read_bytes()
    rng = random.Random(1)
    for k in range(POINTS):
        run = tmp_path / f"run{k}"
        _kill_at(CLI + args + [f"run_dir={run}"], _env(cache), after=rng.uniform(6, 16))
        r = subprocess.run(CLI + args + [f"run_dir={run}", "resume=true"], env=_env(cache),
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr[-2000:]
        assert (run / "translator/weights.safetensors").read_bytes() == want
        assert not _no_temporaries(run)


def _no_big_files():
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)   # EFBIG as an error, not a kill
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))


def test_full_disk_and_read_only_folder_leave_nothing_half_written(tmp_path):
    cache = tmp_path / "c"
    args = ["embed", "embedder=glove-50", "corpus=gcide-definitions", "split=a", "limit=2000",
            "progress=false"]
    subprocess.run(CLI + args, env=_env(cache), check=True, capture_output=True)   # cache filled
    out = tmp_path / "big.npy"   # 2000 x 50 float32 = 400 kB > the 64 kB file-size limit
    r = subprocess.run(CLI + args + [f"output={out}"], env=_env(cache), capture_output=True,
                       text=True, preexec_fn=_no_big_files)
    assert r.returncode == 1 and "error:" in r.stderr and "Traceback" not in r.stderr
    assert not out.exists() and not _no_temporaries(tmp_path)
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        if os.access(ro, os.W_OK):
            pytest.skip("running as a user who can write anywhere (root): no read-only folder")
        r = subprocess.run(CLI + args + [f"output={ro / 'x.npy'}"], env=_env(cache),
                           capture_output=True, text=True)
        assert r.returncode == 1 and "Permission denied" in r.stderr
        assert not list(ro.iterdir())
    finally:
        ro.chmod(0o755)

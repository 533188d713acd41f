"""Atomic, pickle-free I/O: files get the mode the umask gives any new file (shared caches)."""
from __future__ import annotations

import os
import stat

import numpy as np

from vec2vec.data.io import save_npy, write_json


def test_written_files_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        write_json(tmp_path / "a.json", {"x": 1})
        save_npy(tmp_path / "a.npy", np.zeros((2, 2), np.float32))
        for f in ("a.json", "a.npy"):
            assert stat.S_IMODE((tmp_path / f).stat().st_mode) == 0o644, f
        os.umask(0o077)
        write_json(tmp_path / "b.json", {})
        assert stat.S_IMODE((tmp_path / "b.json").stat().st_mode) == 0o600
    finally:
        os.umask(old)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]

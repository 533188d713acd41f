"""``vec2vec translate``: stream a stored vector set through a trained run's translator."""
from __future__ import annotations

from pathlib import Path

from vec2vec import rundir
from vec2vec.data.io import write_json
from vec2vec.runtime import thread_limit
from vec2vec.translators.stream import translate_file


def main(cfg: dict) -> int:
    """``vec2vec translate run_dir=DIR input=X.npy|index.faiss output=Y.npy|Y.faiss
    direction=ab``: translate every row in chunks (memory bounded by the chunk for .npy -> .npy);
    a JSON manifest goes beside the output."""
    for key in ("run_dir", "input", "output"):
        if not cfg.get(key):
            raise ValueError(f"{key}= is required (see `vec2vec translate --help`)")
    run_cfg = rundir.read_config(cfg["run_dir"])
    direction = rundir.resolve_direction(str(cfg["direction"]), run_cfg)
    tr = rundir.load_translator(cfg["run_dir"], cfg.get("seed"))
    with thread_limit(int(cfg.get("threads") or 0)):
        stats = translate_file(tr, cfg["input"], cfg["output"], direction, int(cfg["chunk"]),
                               bool(cfg["overwrite"]), progress=bool(cfg["progress"]))
    src, tgt = (run_cfg["source"], run_cfg["target"])[:: 1 if direction == "ab" else -1]
    write_json(Path(str(cfg["output"]) + ".json"),
               {**cfg, "direction": direction, "from": src, "to": tgt, "method": run_cfg["method"],
                **stats})
    print(f"{stats['rows']} vectors {src} ({stats['dim_in']}) -> {tgt} ({stats['dim_out']}) "
          f"in {stats['seconds']:.2f} s ({stats['vectors_per_second']:.0f} vectors/s) -> "
          f"{cfg['output']}")
    return 0

"""``vec2vec defend``: apply a defence to a stored vector set."""
from __future__ import annotations

import time
from pathlib import Path

from vec2vec.audit.defend import Defence
from vec2vec.data.io import save_npy, write_json
from vec2vec.data.vectors import load_vectors


def main(cfg: dict) -> int:
    """``vec2vec defend input=X.npy output=Y.npy defence=noise|rotation|int8|binary|pca param=P
    seed=S``: defend a stored vector set; the fitted defence (to transform later queries the same
    way) is saved beside the output as ``Y.defence.json`` (+ ``Y.defence.safetensors``)."""
    for key in ("input", "output"):
        if not cfg.get(key):
            raise ValueError(f"{key}= is required (see `vec2vec defend --help`)")
    out = Path(cfg["output"])
    if out.suffix != ".npy":
        raise ValueError(f"output={out}: must end in .npy")
    if out.exists() and not cfg["overwrite"]:
        raise ValueError(f"output={out} exists; pass overwrite=true to replace it")
    defence = Defence(cfg["defence"], cfg.get("param"), cfg["seed"])   # checks kind and param
    x = load_vectors(cfg["input"])
    t0 = time.time()
    y = defence.fit(x).transform(x)
    save_npy(out, y)
    defence.save(out.with_suffix(".defence"))
    write_json(out.with_suffix(".json"), {**cfg, "rows": int(len(x)), "dim_in": int(x.shape[1]),
                                          "dim_out": int(y.shape[1]),
                                          "seconds": time.time() - t0})
    print(f"[defend] {cfg['defence']} (param={cfg.get('param')}) on {len(x)} x {x.shape[1]} -> "
          f"{out} [{len(x)} x {y.shape[1]}]")
    return 0

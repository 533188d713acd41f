"""``vec2vec <command> key=value ...``: one entry point; each command lives in its own module.

Commands are looked up in ``COMMANDS`` and imported only when run, so ``vec2vec embed`` on a cache
hit does not pay for importing torch.
"""
from __future__ import annotations

import importlib
import sys

# command -> ("module:function", config name, config module, one-line description)
COMMANDS = {
    "embed": ("vec2vec.embed:cli", "embed", "vec2vec.conf",
              "embed a corpus split with an embedder, through the on-disk cache"),
    "train": ("vec2vec.train:cli", "train", "vec2vec.conf",
              "learn A->B and B->A translators from unpaired vectors"),
    "evaluate": ("vec2vec.evaluate:cli", "evaluate", "vec2vec.conf",
                 "score a trained run on paired held-out texts, beside oracle baselines"),
    "translate": ("vec2vec.translate:cli", "translate", "vec2vec.conf",
                  "translate a .npy or faiss index with a trained run, streaming in chunks"),
    "align": ("vec2vec.align:cli", "align", "vec2vec.conf",
              "representation-similarity metrics between embedders, with permutation nulls"),
    "audit": ("vec2vec.audit:cli", "audit", "vec2vec.conf",
              "what a leaked vector set reveals: translate, infer attributes, invert, report"),
    "identify": ("vec2vec.identify:cli", "identify", "vec2vec.conf",
                 "which embedder you can run made a vector set? (compares public-text embeddings)"),
    "defend": ("vec2vec.defend:cli", "defend", "vec2vec.conf",
               "apply a defence (noise, rotation, quantisation, PCA) to a vector set"),
    "invert-train": ("inversion.cli:train_cli", "train", "inversion.conf",
                     "train an inverter (vectors -> text) for an embedder"),
    "invert": ("inversion.cli:invert_cli", "invert", "inversion.conf",
               "reconstruct texts from vectors with an inverter"),
}


def usage() -> str:
    lines = ["usage: vec2vec <command> [key=value ...]   (vec2vec <command> --help for its keys)",
             "", "commands:"]
    lines += [f"  {name:<13} {spec[3]}" for name, spec in COMMANDS.items()]
    lines += ["", "Overrides use Hydra's grammar, e.g. seeds=[0,1,2] sizes.a=5000."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    command, overrides = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"vec2vec: unknown command {command!r}\n\n{usage()}", file=sys.stderr)
        return 2
    target, conf_name, conf_module, about = COMMANDS[command]
    if any(a in ("-h", "--help") for a in overrides):
        from .config import config_text

        mod = importlib.import_module(target.split(":")[0])
        fn = getattr(mod, target.split(":")[1])
        print(f"vec2vec {command}: {about}\n\n{(fn.__doc__ or '').strip()}\n\n"
              f"keys (defaults and meaning):\n{config_text(conf_name, conf_module)}")
        return 0
    module_name, func_name = target.split(":")
    try:
        fn = getattr(importlib.import_module(module_name), func_name)
    except (ModuleNotFoundError, AttributeError) as e:
        print(f"vec2vec {command}: not available in this install ({e})", file=sys.stderr)
        return 2
    try:
        return int(fn(overrides) or 0)
    except (ValueError, FileNotFoundError, ModuleNotFoundError, RuntimeError) as e:
        print(f"vec2vec {command}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"vec2vec {command}: interrupted; finished chunks/checkpoints are kept, "
              "run the same command again to resume", file=sys.stderr)
        return 130


def entry() -> int:
    """Console-script entry: ``main`` plus a quiet exit when stdout is closed (``| head``)."""
    try:
        return main()
    except BrokenPipeError:
        sys.stderr.close()  # nothing more can be printed; avoid a second traceback at exit
        return 0


if __name__ == "__main__":
    sys.exit(entry())

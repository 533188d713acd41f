"""``vec2vec <command> key=value ...``: one entry point; each command is a module of
:mod:`vec2vec.commands` with a ``main(cfg)``.

Every command composes its config the same way (:func:`vec2vec.config.load`: the YAML's keys,
typos refused, deprecated keys renamed) and prints its full key list with ``--help``. Commands are
imported only when run, so ``vec2vec embed`` on a cache hit does not pay for importing torch.
Errors are one line naming the input and the fix; ``--verbose`` adds tracebacks, library
warnings and per-seed details.
"""
from __future__ import annotations

import importlib
import logging
import os
import sys
import warnings

# command -> ("module:function" under vec2vec.commands, one-line description)
COMMANDS = {
    "embed": ("embed:main", "embed a corpus split with an embedder, through the on-disk cache"),
    "train": ("train:main", "learn A->B and B->A translators from unpaired vectors"),
    "evaluate": ("evaluate:main",
                 "score a trained run on paired held-out texts, beside oracle baselines"),
    "translate": ("translate:main",
                  "translate a .npy or faiss index with a trained run, streaming in chunks"),
    "align": ("align:main",
              "representation-similarity metrics between embedders, with permutation nulls"),
    "audit": ("audit:main",
              "what a leaked vector set reveals: translate, infer attributes, invert, report"),
    "identify": ("identify:main",
                 "which embedder you can run made a vector set? (compares public-text embeddings)"),
    "defend": ("defend:main",
               "apply a defence (noise, rotation, quantisation, PCA) to a vector set"),
    "invert-train": ("invert:train_main", "train an inverter (vectors -> text) for an embedder"),
    "invert": ("invert:invert_main", "reconstruct texts from vectors with an inverter"),
    "demo": ("demo:main", "the main job on the default data: embed, translate, evaluate, audit"),
}
# errors a user can fix from the message alone: one line, no traceback (unless --verbose)
USER_ERRORS = (ValueError, FileNotFoundError, ModuleNotFoundError, RuntimeError, OSError)


def usage() -> str:
    lines = ["usage: vec2vec <command> [key=value ...] [--verbose]   "
             "(vec2vec <command> --help lists every key)", "", "commands:"]
    lines += [f"  {name:<13} {spec[1]}" for name, spec in COMMANDS.items()]
    lines += ["", "Overrides use Hydra's grammar, e.g. seeds=[0,1,2] sizes.a=5000."]
    return "\n".join(lines)


def _function(command: str):
    module, func = COMMANDS[command][0].split(":")
    return getattr(importlib.import_module(f"vec2vec.commands.{module}"), func)


def quiet_libraries() -> None:
    """Keep library chatter (deprecation warnings, transformers' info logs) off a user's terminal."""
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")   # "Loading weights" bars
    for name in ("transformers", "sentence_transformers", "hydra", "peft"):
        logging.getLogger(name).setLevel(logging.ERROR)
    # transformers' own bars (GGUF de-quantising, weight loading) follow this variable
    os.environ.setdefault("TRANSFORMERS_NO_PROGRESS_BARS", "1")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    command, overrides = argv[0], [a for a in argv[1:] if a != "--verbose"]
    verbose = "--verbose" in argv[1:]
    if command not in COMMANDS:
        print(f"vec2vec: unknown command {command!r}\n\n{usage()}", file=sys.stderr)
        return 2
    from vec2vec import config

    if any(a in ("-h", "--help") for a in overrides):
        fn = _function(command)
        print(f"vec2vec {command}: {COMMANDS[command][1]}\n\n{(fn.__doc__ or '').strip()}\n\n"
              f"keys (defaults and meaning):\n{config.help_text(command, overrides)}")
        return 0
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if not verbose:
        quiet_libraries()
    try:
        cfg = config.load(command, overrides)   # keys checked before any model loads
        return int(_function(command)(cfg) or 0)
    except USER_ERRORS as e:
        if verbose:
            raise
        msg = " ".join(str(e).split()) or type(e).__name__
        print(f"vec2vec {command}: error: {msg}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"vec2vec {command}: interrupted; finished chunks/checkpoints are kept, "
              "run the same command again (resume=true where it applies) to continue",
              file=sys.stderr)
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

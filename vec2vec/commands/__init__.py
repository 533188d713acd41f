"""Thin front-ends, one per ``vec2vec`` command: each ``main(cfg)`` takes the resolved config of
:func:`vec2vec.config.load` (every key listed in the command's YAML), calls the library, and
prints a short result. Nothing here computes anything the library does not."""

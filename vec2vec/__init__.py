"""vec2vec: unsupervised embedding-space translation and inversion.

The pipeline, one package per stage (dependencies point down this list, never up):

- :mod:`vec2vec.data`: corpora, embedders, the embedding cache, reading vector inputs;
- :mod:`vec2vec.neighbors`: the one nearest-neighbour module;
- :mod:`vec2vec.translators`: every translation method behind one interface;
  :mod:`vec2vec.selection` scores them without pairs; :mod:`vec2vec.train` runs seeds;
- :mod:`vec2vec.evaluate` (paired truth) and :mod:`vec2vec.align` (representation alignment);
- :mod:`inversion`: vectors back to text;
- :mod:`vec2vec.audit`: what a leaked vector set reveals;
- :mod:`vec2vec.commands`: the ``vec2vec`` command line (``vec2vec --help``).

Entry points: ``vec2vec.embed(...)`` (cached embeddings of corpus splits) and
``vec2vec.get_embedder(name).encode(texts)``.
"""
__version__ = "0.1.0"

from vec2vec.data.cache import embed  # noqa: E402
from vec2vec.data.embedders import get_embedder  # noqa: E402

__all__ = ["embed", "get_embedder", "__version__"]

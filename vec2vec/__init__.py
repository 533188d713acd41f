"""vec2vec: unsupervised embedding-space translation and inversion.

Entry points: ``vec2vec.embed(...)`` (cached embeddings of corpus splits; the module of the same
name is ``vec2vec.embed`` in ``sys.modules``), ``vec2vec.get_embedder``, ``vec2vec.corpora``,
``vec2vec.translators``; the ``vec2vec`` command line (``vec2vec --help``).
"""
__version__ = "0.1.0"

# Binding the function after the submodule import keeps ``vec2vec.embed(...)`` callable.
from .embed import embed  # noqa: E402
from .embedders import get_embedder  # noqa: E402

__all__ = ["embed", "get_embedder", "__version__"]

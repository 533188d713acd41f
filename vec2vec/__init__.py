"""vec2vec: unsupervised embedding-space translation and inversion.

Entry points: ``vec2vec.embed(...)`` (cached embeddings of corpus splits), ``vec2vec.get_embedder``,
``vec2vec.corpora``, ``vec2vec.translators``; the ``vec2vec`` command line (``vec2vec --help``).
"""
__version__ = "0.1.0"


def embed(*args, **kwargs):
    """Embed a corpus split through the cache: see ``vec2vec.embed.embed``."""
    from .embed import embed as _embed

    return _embed(*args, **kwargs)


def get_embedder(name: str, device: str = "auto"):
    """An embedder by registry name, hub name or local path: see ``vec2vec.embedders``."""
    from .embedders import get_embedder as _get

    return _get(name, device)

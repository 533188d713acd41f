"""The data layer: everything that reads or makes vectors and texts.

- :mod:`.corpora`: the registry corpora and user files, cleaned, split into seeded disjoint parts;
- :mod:`.embedders`: one ``encode(texts) -> float32 [n, d]`` over the offline models or any
  sentence-transformers model;
- :mod:`.cache`: the resumable on-disk embedding cache (``vec2vec.embed``);
- :mod:`.vectors`: reading vector inputs (``.npy``, faiss indexes) in bounded memory;
- :mod:`.io`: atomic, pickle-free file I/O; :mod:`.validation`: input checks.
"""

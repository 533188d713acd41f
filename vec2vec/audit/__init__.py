"""Auditing leaked vectors: what do they reveal, and what would hide it?

- :mod:`.pipeline`: the ``vec2vec audit`` run (translate without pairs, infer attributes, invert,
  measure against ceilings when the truth is known);
- :mod:`.identify`: is the leak the output of an embedder we can run?
- :mod:`.report`: the HTML report; :mod:`.defend`: defences (noise, rotation, quantisation, PCA).
"""

"""Translation methods behind one interface (:class:`base.Translator`): ``fit(xa, xb)`` on
unpaired vectors, ``translate(x, direction)``, ``save`` / ``load``. Methods register by name:
``linear`` (identity, oracles), ``minivec2vec``, ``muse``, ``gw``, ``pivot``, ``gan`` (vec2vec);
``shrink`` is the pair-free output shrinkage every method can add; ``stream`` translates stored
vector sets in bounded memory."""
from vec2vec.translators.base import (
                                      DIRECTIONS,
                                      REGISTRY,
                                      Translator,
                                      get_translator,
                                      method_class,
                                      register,
                                      registry,
)

__all__ = ["DIRECTIONS", "REGISTRY", "Translator", "get_translator", "method_class", "register",
           "registry"]

"""Translation methods behind one interface (see ``base.Translator``)."""
from .base import DIRECTIONS, REGISTRY, Translator, get_translator, register

__all__ = ["DIRECTIONS", "REGISTRY", "Translator", "get_translator", "register"]

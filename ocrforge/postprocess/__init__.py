"""ocrforge.postprocess: turning recognizer posteriors into checked, calibrated text.

- ``ctc``: greedy decoding (the default);
- ``beam``: CTC prefix beam search with a character n-gram LM (``make_decoder(charset, DecoderOptions(...))``);
- ``lm`` / ``lm_cli``: character n-gram models (``ocrforge lm build``), the shipped ``models/lm_zh_en.bin``;
- ``constraints``: allow/deny lists and field patterns (amount, date, ...) that restrict the beam;
- ``geometry``: does the text fit its box, outlier heights, noise;
- ``fusion``: several recognizers on low-confidence lines (posterior averaging, aligned voting);
- ``calibration``: temperature / isotonic confidence calibration, ECE, threshold tables.

Everything here is numpy only (``fusion.vote_texts`` also uses rapidfuzz); nothing imports torch.
"""

"""Offline evaluation: metrics, plots, the report, and the baselines a model is compared with.

- ``metrics``: AUC, group AUC, log loss, calibration (numpy only).
- ``plots``: ROC, reliability diagram, training curves (PNG).
- ``report``: ``report.json`` and ``report.md``.
- ``baselines``: smoothed-popularity baseline and the oracle.
- ``din``: DeepCTR-Torch's DIN on id features (imports torch; import it only when needed).
- ``deepctr_multitask``: DeepCTR-Torch's ESMM and MMoE as conversion baselines (likewise).
- ``deepctr_common``: what those share — id features, the training loop with early stopping.
"""

"""The teacher: a cross-encoder over the user's behaviour texts and the ad text, fine-tuned on
clicks, whose soft labels the serving model is distilled from (``train/distill.py``)."""

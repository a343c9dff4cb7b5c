"""Experiments: arms of bundles, shadow scoring, blends, exposure and outcome attribution."""

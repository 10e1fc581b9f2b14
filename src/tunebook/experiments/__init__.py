"""One-off rounds that train and record a decision (baseline, steps, seeds, plan)."""

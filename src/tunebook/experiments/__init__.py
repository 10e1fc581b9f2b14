"""Experiments that train and record a decision. Baseline, steps, timing (plan), promotion and
stability are one-off rounds run through :mod:`tunebook.experiments.oneoff`; seed re-runs add
trials to the round they re-run."""

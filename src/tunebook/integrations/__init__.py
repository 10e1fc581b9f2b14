"""Hooks for training frameworks: ``lightning`` (a Logger and a checkpoint callback) and ``hf``
(a ``transformers`` TrainerCallback). Each works inside ``train(config, run)`` (pass the run)
and in a script run as a command pipeline (pass nothing: it reports through
``tunebook.report``)."""

"""The lowest layer: specs, spaces, scores, trial records and pure metrics; no I/O."""

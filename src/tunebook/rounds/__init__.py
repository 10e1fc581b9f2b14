"""A round's lifecycle: create, fill, fidelity stages, pruning, re-scoring."""

"""The Run handle, the worker loop and the executors (inline, processes, Ray)."""

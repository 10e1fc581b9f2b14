"""Which GPUs each local worker sees: its own ``CUDA_VISIBLE_DEVICES``, set before it starts.

With ``gpus_per_trial`` = g >= 1 (a whole number), worker i gets devices i*g .. i*g+g-1 of the
list, so no two workers share a device. With g < 1 (1/2, 1/3, ...), 1/g workers are packed on
each device, in order. Either way there are at most ``len(devices) / g`` workers: a trial never
sees a device that another worker's trial was given. Ray does its own placement from
``num_gpus``; ``tunebook worker --gpu N`` sets the variable for one worker on any host.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from tunebook.core.errors import SpecError


def parse_gpus(text: str) -> list[str]:
    """``--gpus``: ``all``, a count (``4``: the first four devices) or ids (``0,2`` / ``3,``)."""
    text = text.strip()
    if text == "all":
        return _detect()
    if text.isdigit():
        n, found = int(text), _detect()
        if n < 1 or n > len(found):
            raise SpecError("--gpus", f"a count between 1 and the {len(found)} GPUs found",
                            text, "Give device ids instead: --gpus 0,1 (one: --gpus 3,).")
        return found[:n]
    ids = [t.strip() for t in text.split(",") if t.strip()]
    if not ids or len(set(ids)) != len(ids):
        raise SpecError("--gpus", "all, a count, or distinct comma-separated device ids", text)
    return ids


def _detect() -> list[str]:
    """The devices this process may use: ``CUDA_VISIBLE_DEVICES``, else what nvidia-smi lists."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [v.strip() for v in visible.split(",") if v.strip()]
    if shutil.which("nvidia-smi") is None:
        raise SpecError("--gpus", "GPUs on this machine", "none (no nvidia-smi)",
                        "Pass device ids explicitly, or run without --gpus.")
    out = subprocess.run(["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"],
                         capture_output=True, text=True, timeout=30, check=False).stdout
    return [line.strip() for line in out.splitlines() if line.strip()]


def per_device(gpus_per_trial: float) -> int:
    """Workers packed on one device (1 when a trial takes one or more whole devices)."""
    if gpus_per_trial <= 0:
        raise SpecError("gpus_per_trial", "a number > 0", gpus_per_trial)
    if gpus_per_trial >= 1:
        if gpus_per_trial != int(gpus_per_trial):
            raise SpecError("gpus_per_trial", "a whole number of GPUs, or a fraction 1/k",
                            gpus_per_trial)
        return 1
    k = round(1 / gpus_per_trial)
    if abs(k * gpus_per_trial - 1) > 1e-6:
        raise SpecError("gpus_per_trial", "a whole number of GPUs, or a fraction 1/k "
                        "(0.5, 0.25, ...)", gpus_per_trial)
    return k


def assign(devices: list[str], workers: int, gpus_per_trial: float = 1.0) -> list[str]:
    """``CUDA_VISIBLE_DEVICES`` for each of ``workers`` workers (rotation, or packing)."""
    pack = per_device(gpus_per_trial)
    whole = 1 if pack > 1 else int(gpus_per_trial)
    slots = len(devices) // whole * pack
    if workers > slots:
        raise SpecError("workers", f"at most {slots} ({len(devices)} GPUs, {gpus_per_trial} "
                        "per trial)", workers,
                        "More workers would share a device; pass fewer --workers.")
    if pack > 1:
        return [devices[i // pack] for i in range(workers)]
    return [",".join(devices[i * whole:(i + 1) * whole]) for i in range(workers)]


def use_gpu(gpu: str | None) -> None:
    """``tunebook worker --gpu N``: this process (and every trial it starts) sees only N."""
    if gpu is None:
        return
    ids = [t.strip() for t in gpu.split(",") if t.strip()]
    if not ids:
        raise SpecError("--gpu", "a device id such as 0 (or ids 0,1)", gpu)
    os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(ids)

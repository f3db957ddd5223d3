"""Where and how wide torch runs: the device to use, and a thread count set for one piece of work."""
from __future__ import annotations

from contextlib import contextmanager

import torch


def resolve_device(device: str = "auto") -> torch.device:
    """'auto' is the GPU when torch sees one, else the CPU; anything else is taken as given ('cpu', 'cuda:1')."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


@contextmanager
def torch_threads(n: int):
    """torch.set_num_threads is process-wide: set it for this work only."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)

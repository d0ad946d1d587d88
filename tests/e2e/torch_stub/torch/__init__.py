"""A stand-in for `torch`, only for reading which process groups an emitted module
creates (tests/e2e/torch_groups.py). It runs no collective: the emitted module's
collectives are exercised under real MPI by its mpi4py twin, and with real torch
wherever torch is installed."""

from . import distributed  # noqa: F401

int = "torch.int"


def tensor(data, dtype=None):
    return data

"""Data-parallel training with torch's own ``torch.distributed`` (launched by ``torchrun``).

One process per core group (CPU, ``gloo``) or per GPU (``nccl``). ``torchrun`` sets ``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK`` and the rendezvous address; without them everything here is a no-op
for a single process, so the same training loop runs both ways::

    torchrun --standalone --nproc_per_node=2 -m vec2vec.cli invert-train threads=1 run_dir=DIR ...

Ranks must take the same decisions (stop, save, evaluate) at the same step, or one waits forever
in a collective the other never joins: wall-clock decisions go through :func:`agree`. A rank waits
at most ``VEC2VEC_DIST_TIMEOUT_MIN`` minutes (default 180) in a collective.
"""
from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Dist:
    """This process's place in the job: ``rank`` of ``world`` processes, on ``device``."""

    rank: int = 0
    world: int = 1
    device: str = "cpu"
    owns_group: bool = False      # setup() created the process group (teardown() destroys it)

    @property
    def main(self) -> bool:
        """True on the process that writes files and prints (rank 0)."""
        return self.rank == 0


def setup(device: str) -> Dist:
    """Join the process group when launched by ``torchrun`` (``WORLD_SIZE`` > 1).

    device: the device picked for a single process (``"cpu"`` or ``"cuda"``); with several
    processes on CUDA each takes ``cuda:LOCAL_RANK``. Returns a :class:`Dist`.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist(0, 1, device)
    import torch
    import torch.distributed as dist

    if device.startswith("cuda"):
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        device = f"cuda:{local}"
    owns = not dist.is_initialized()
    if owns:
        from datetime import timedelta

        # the other ranks wait in a collective while rank 0 alone works (the GAN's warm start,
        # scoring, saving): more than torch's 30-minute default on a busy CPU
        minutes = float(os.environ.get("VEC2VEC_DIST_TIMEOUT_MIN", "180"))
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo",
                                timeout=timedelta(minutes=minutes))
    return Dist(dist.get_rank(), dist.get_world_size(), device, owns)


def teardown(d: Dist) -> None:
    """Leave the process group if :func:`setup` created it (no-op for a single process)."""
    if d.owns_group:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()


def barrier(d: Dist) -> None:
    """Wait until every rank gets here (no-op for a single process)."""
    if d.world > 1:
        import torch.distributed as dist

        dist.barrier()


def agree(d: Dist, values: list[float]) -> list[float]:
    """Rank 0's ``values`` on every rank (e.g. "out of time" flags decided by its clock)."""
    if d.world <= 1:
        return list(values)
    import torch
    import torch.distributed as dist

    t = torch.tensor(values, dtype=torch.float64, device=_comm_device(d))
    dist.broadcast(t, 0)
    return t.tolist()


def all_sum(d: Dist, values: list[float]) -> list[float]:
    """Element-wise sum of ``values`` over ranks (e.g. loss totals of a sharded evaluation)."""
    if d.world <= 1:
        return list(values)
    import torch
    import torch.distributed as dist

    t = torch.tensor(values, dtype=torch.float64, device=_comm_device(d))
    dist.all_reduce(t)
    return t.tolist()


def shard(d: Dist, rows):
    """This rank's share of a global batch: every ``world``-th row from ``rank`` (rows [B])."""
    return rows[d.rank::d.world]


def wrap(d: Dist, module, **kw):
    """``DistributedDataParallel(module)`` with several processes, else ``module`` itself.

    kw: passed to DDP (e.g. ``find_unused_parameters=True`` when some steps leave parameters
    unused)."""
    if d.world <= 1:
        return module
    from torch.nn.parallel import DistributedDataParallel

    ids = [int(d.device.split(":")[1])] if d.device.startswith("cuda:") else None
    return DistributedDataParallel(module, device_ids=ids, **kw)


def _comm_device(d: Dist) -> str:
    # nccl only moves CUDA tensors; gloo only CPU ones
    return d.device if d.device.startswith("cuda") else "cpu"

"""One lrhub job per distributed job: rank 0 talks to the service, every rank trains with its
answer.

Under `torch.distributed` (torchrun, DDP, FSDP, Lightning's strategies and Accelerate all start
one default process group) every process runs the same adapter. Were each to ask lrhub, the
service would see one interval reported once per rank, with each rank's own metrics, as
rewinds, and the ranks could train with different rates. Instead `Ranks.share` runs a request
on rank 0 only and broadcasts its result (the answer: rate, momentum, stop) to every rank before
the next optimizer step, and `Ranks.mean` averages metrics over ranks when asked to.

Importing this module imports torch, so `lrhub.client.training` does not import it; only the
torch-based adapters do.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import torch.distributed as dist

ResultT = TypeVar("ResultT")

#: The rank that talks to lrhub.
LEADER = 0


@dataclass(frozen=True)
class Ranks:
    """This process's place in the default process group (rank 0 of 1 outside of one).

    Every method that communicates is a collective: all ranks call it at the same point of the
    training, as they call DDP's forward and backward.
    """

    rank: int = LEADER
    world_size: int = 1

    @classmethod
    def detect(cls) -> Ranks:
        """The default process group's rank and size, when one is initialized."""
        if dist.is_available() and dist.is_initialized():
            return cls(dist.get_rank(), dist.get_world_size())
        return cls()

    @property
    def leader(self) -> bool:
        """True on the rank that talks to lrhub (and in a single process)."""
        return self.rank == LEADER

    @property
    def distributed(self) -> bool:
        """True when more than one process trains."""
        return self.world_size > 1

    def share(self, request: Callable[[], ResultT]) -> ResultT:
        """`request()` run on rank 0, its result on every rank.

        An exception on rank 0 is raised on every rank (rank 0's own; the others a
        `RuntimeError` naming it), so no rank waits for an answer that will never come.
        """
        if not self.distributed:
            return request()
        payload: list[Any] = [None]
        if self.leader:
            try:
                payload[0] = (True, request())
            except Exception as error:
                dist.broadcast_object_list([(False, f"{type(error).__name__}: {error}")], LEADER)
                raise
        dist.broadcast_object_list(payload, LEADER)
        answered, result = payload[0]
        if not answered:
            raise RuntimeError(f"rank {LEADER} could not get lrhub's answer: {result}")
        return result  # type: ignore[no-any-return]

    def mean(self, metrics: Mapping[str, float]) -> dict[str, float]:
        """Each metric's mean over the ranks that have it (a rank may miss one)."""
        if not self.distributed:
            return dict(metrics)
        gathered: list[Any] = [None] * self.world_size
        dist.all_gather_object(gathered, dict(metrics))
        sums: dict[str, float] = {}
        counts: dict[str, int] = {}
        for rank_metrics in gathered:
            for name, value in rank_metrics.items():
                sums[name] = sums.get(name, 0.0) + value
                counts[name] = counts.get(name, 0) + 1
        return {name: sums[name] / counts[name] for name in sums}

"""Fair turns among tenants: a queue served agency by agency, so one agency's backlog cannot
keep the others' work waiting."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def round_robin(items: Iterable[T], owner: Callable[[T], Hashable]) -> Iterator[T]:
    """Each owner's first item (in the order their first items come), then each one's second,
    and so on; an owner's items keep their order."""
    queues: dict[Hashable, list[T]] = {}
    for item in items:
        queues.setdefault(owner(item), []).append(item)
    turn = 0
    while queues:
        for key in list(queues):
            queue = queues[key]
            if turn < len(queue):
                yield queue[turn]
            else:
                del queues[key]
        turn += 1

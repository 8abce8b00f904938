"""Length-bucketed batches: the split of length-sorted pairs with the least padded work.

Greedy filling (`lychee_backend.pack_batches`) puts the shortest and the longest pair that
fit the budget in one batch, padding the short ones to the long one. Here a dynamic
programme over the sorted lengths minimises the padded token slots plus a fixed cost per
forward (`overhead` tokens: kernel launches and weight reads that a batch pays whatever its
size), under the same token budget (rows x padded length).
"""

from __future__ import annotations

from collections.abc import Sequence


def bucket_batches(lengths: Sequence[int], budget: int, overhead: int) -> list[list[int]]:
    """Indices grouped into batches, each sorted by length; a pair over budget runs alone."""
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    sizes = [lengths[i] for i in order]
    best = [0.0] + [float("inf")] * len(order)  # best[i]: cost of the first i sorted pairs
    start = [0] * (len(order) + 1)
    for end in range(1, len(order) + 1):
        width = sizes[end - 1]  # the longest pair of any batch ending here
        begin = end - 1
        while begin >= 0 and ((end - begin) * width <= budget or begin == end - 1):
            cost = best[begin] + (end - begin) * width + overhead
            if cost < best[end]:
                best[end], start[end] = cost, begin
            begin -= 1
    batches: list[list[int]] = []
    end = len(order)
    while end > 0:
        batches.append(order[start[end] : end])
        end = start[end]
    return batches[::-1]

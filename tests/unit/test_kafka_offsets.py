"""Which offset the Kafka adapter commits: never past a message it did not finish."""

from __future__ import annotations

from taskcore_adapters.kafka import _PartitionOffsets


def delivered(offsets: _PartitionOffsets, *numbers: int) -> None:
    for number in numbers:
        assert offsets.admit(number)
        offsets.ack(number)


def test_the_commit_waits_for_an_offset_not_yet_delivered() -> None:
    offsets = _PartitionOffsets(1, floor=10)
    delivered(offsets, 12)
    assert offsets.commit_point() is None  # 10 and 11 are still to come
    delivered(offsets, 10)
    assert offsets.commit_point() == 11
    offsets.committed(11)
    delivered(offsets, 11)
    assert offsets.commit_point() == 13


def test_outstanding_and_released_offsets_hold_the_commit() -> None:
    offsets = _PartitionOffsets(1, floor=0)
    assert offsets.admit(0) and offsets.admit(1) and offsets.admit(2)
    offsets.ack(0)
    offsets.ack(2)
    assert offsets.commit_point() == 1
    assert offsets.release(1) == 1
    assert offsets.commit_point() == 1
    assert offsets.admit(1)  # delivered again after the seek
    offsets.ack(1)
    assert offsets.commit_point() == 3


def test_committed_and_acknowledged_offsets_are_not_delivered_again() -> None:
    offsets = _PartitionOffsets(1, floor=5)
    delivered(offsets, 5, 6)
    offsets.committed(offsets.commit_point() or 0)
    assert not offsets.admit(5)
    assert not offsets.admit(6)
    assert offsets.admit(7)


def test_an_unknown_start_is_the_first_offset_delivered() -> None:
    offsets = _PartitionOffsets(1)
    delivered(offsets, 40, 41)
    assert offsets.commit_point() == 42

"""Which offset the Kafka adapter commits: never past a message it did not finish."""

from __future__ import annotations

from taskcore_adapters.kafka_offsets import PartitionOffsets


def delivered(offsets: PartitionOffsets, *numbers: int) -> None:
    for number in numbers:
        assert offsets.admit(number)
        offsets.ack(number)


def test_the_commit_waits_for_an_offset_not_yet_delivered() -> None:
    offsets = PartitionOffsets(1, floor=10)
    delivered(offsets, 12)
    assert offsets.commit_point() is None  # 10 and 11 are still to come
    delivered(offsets, 10)
    assert offsets.commit_point() == 11
    offsets.committed(11)
    delivered(offsets, 11)
    assert offsets.commit_point() == 13


def test_outstanding_and_released_offsets_hold_the_commit() -> None:
    offsets = PartitionOffsets(1, floor=0)
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
    offsets = PartitionOffsets(1, floor=5)
    delivered(offsets, 5, 6)
    offsets.committed(offsets.commit_point() or 0)
    assert not offsets.admit(5)
    assert not offsets.admit(6)
    assert offsets.admit(7)


def test_an_unknown_start_is_the_first_offset_delivered() -> None:
    offsets = PartitionOffsets(1)
    delivered(offsets, 40, 41)
    assert offsets.commit_point() == 42


def test_an_offset_passed_over_is_named_for_reading_again_after_the_patience() -> None:
    offsets = PartitionOffsets(1, floor=10)
    delivered(offsets, 10, 12, 13)  # 11 never came
    assert offsets.skipped(now=100.0, patience_s=2.0) is None  # first seen missing
    assert offsets.skipped(now=101.0, patience_s=2.0) is None
    assert offsets.skipped(now=102.0, patience_s=2.0) == 11
    assert offsets.skipped(now=103.0, patience_s=2.0) is None  # the seek gets its time
    assert offsets.skipped(now=104.0, patience_s=2.0) == 11  # still missing: again
    delivered(offsets, 11)
    assert offsets.skipped(now=110.0, patience_s=2.0) is None
    assert offsets.commit_point() == 14


def test_an_offset_in_hand_or_at_the_end_is_not_a_skipped_one() -> None:
    offsets = PartitionOffsets(1, floor=0)
    assert offsets.admit(0) and offsets.admit(1)
    offsets.ack(1)  # 0 is still being worked on
    assert offsets.skipped(now=0.0, patience_s=1.0) is None
    assert offsets.skipped(now=50.0, patience_s=1.0) is None
    offsets.ack(0)  # everything delivered is done: nothing is missing below the last one
    assert offsets.skipped(now=60.0, patience_s=1.0) is None
    assert offsets.skipped(now=70.0, patience_s=1.0) is None


def test_a_released_offset_not_read_again_is_sought_again() -> None:
    offsets = PartitionOffsets(1, floor=0)
    delivered(offsets, 0)
    assert offsets.admit(1) and offsets.admit(2)
    offsets.ack(2)
    offsets.release(1)  # its seek back may fail
    assert offsets.skipped(now=0.0, patience_s=1.0) is None
    assert offsets.skipped(now=1.5, patience_s=1.0) == 1

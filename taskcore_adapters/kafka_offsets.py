"""Which offset of a Kafka partition may be committed, and which one to read again.

Kafka keeps one committed offset per partition, not an ack per message: the consumer must
work out the highest offset below which every message was delivered and finished.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class PartitionOffsets:
    """What one partition delivered here, to know which offset to commit.

    ``floor`` is where the group's commit stood when this assignment started, then the
    last commit: offsets below it are done. The commit point is the first offset from
    ``floor`` up that was not delivered here and acknowledged, so a message the consumer
    has not been handed holds the commit back instead of being committed unseen.

    A fetch may hand over later offsets without an earlier one (seen with a broker that
    makes a batch readable before the one below it). ``skipped`` names such an offset once
    it has been missing for a while, to be read again.
    """

    epoch: int
    floor: int | None = None
    outstanding: set[int] = field(default_factory=set)
    released: set[int] = field(default_factory=set)
    acked: set[int] = field(default_factory=set)
    highest: int = -1
    missing_since: tuple[int, float] | None = None

    def admit(self, offset: int) -> bool:
        """Whether a fetched message is new to deliver (a seek reads acked ones again)."""
        if self.floor is None:
            self.floor = offset
        if offset < self.floor or offset in self.outstanding or offset in self.acked:
            return False
        self.outstanding.add(offset)
        self.released.discard(offset)
        self.highest = max(self.highest, offset)
        return True

    def skipped(self, now: float, patience_s: float) -> int | None:
        """The offset to read again: the first one not acknowledged, when later ones were
        delivered and it has been neither in hand nor delivered for ``patience_s``."""
        point = self._end_of_acked_run()
        if point is None or point >= self.highest or point in self.outstanding:
            self.missing_since = None
            return None
        if self.missing_since is None or self.missing_since[0] != point:
            self.missing_since = (point, now)
            return None
        if now - self.missing_since[1] < patience_s:
            return None
        self.missing_since = (point, now)  # the next attempt, if needed, after as long again
        return point

    def ack(self, offset: int) -> None:
        self.outstanding.discard(offset)
        self.acked.add(offset)

    def release(self, offset: int) -> int:
        """Mark the offset for another delivery; returns the offset to seek back to."""
        self.outstanding.discard(offset)
        self.released.add(offset)
        return min(self.released)

    def commit_point(self) -> int | None:
        """The end of the acknowledged run from ``floor``, if it moved past ``floor``."""
        point = self._end_of_acked_run()
        return point if point is not None and point != self.floor else None

    def _end_of_acked_run(self) -> int | None:
        if self.floor is None:
            return None
        point = self.floor
        while point in self.acked:
            point += 1
        return point

    def committed(self, point: int) -> None:
        self.floor = point
        self.acked = {offset for offset in self.acked if offset >= point}

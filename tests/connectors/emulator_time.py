"""A limiter clock for tests against an emulator mounted in process."""

from __future__ import annotations

from connectors.http import FakeClock
from emulators.common.clock import Clock


class EmulatorTime(FakeClock):
    """The limiter's fake time, taking the emulator's clock along: a pause lets its minute roll over."""

    def __init__(self, emulator_clock: Clock) -> None:
        super().__init__(epoch=emulator_clock.now())
        self.emulator_clock = emulator_clock

    async def sleep(self, seconds: float) -> None:
        self.emulator_clock.advance(max(0.0, seconds))
        await super().sleep(seconds)

"""Workers: lease due jobs and run them, forever (``deskbridge worker``) or until idle (tests, CLI).

Jobs of one linked account run in one worker at a time (``jobs.lease_next``), where they share the
account's rate limiter; jobs of any accounts run concurrently up to ``concurrency``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass, field

from app.api.state import Services
from app.settings import Settings
from app.sharing.deliver import SharingDelivery
from app.sync import jobs
from app.sync.runner import Progress, RunnerConfig, SyncRunner

log = logging.getLogger("deskbridge.sync")


@dataclass(frozen=True)
class WorkerConfig:
    concurrency: int = 4
    poll_seconds: float = 1.0
    runner: RunnerConfig = field(default_factory=RunnerConfig)


def worker_config(settings: Settings, concurrency: int = 4) -> WorkerConfig:
    """A worker's configuration from the settings (sync interval, lease length)."""
    runner = RunnerConfig(interval_seconds=settings.sync_interval, lease_seconds=settings.sync_lease_seconds)
    return WorkerConfig(concurrency=concurrency, runner=runner)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Worker:
    def __init__(
        self, services: Services, config: WorkerConfig | None = None, *, progress: Progress | None = None
    ) -> None:
        self.services = services
        self.config = config or WorkerConfig()
        self.name = worker_name()
        self.runner = SyncRunner(services, self.config.runner, progress)
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def run_one(
        self,
        *,
        account_id: str | None = None,
        models: tuple[str, ...] | None = None,
        ignore_schedule: bool = False,
    ) -> str | None:
        """Lease and run one due job; the job's resulting status, or None when nothing was due."""
        job = await jobs.lease_next(
            self.services.engine,
            self.name,
            lease_seconds=self.config.runner.lease_seconds,
            account_id=account_id,
            models=models,
            ignore_schedule=ignore_schedule,
        )
        if job is None:
            return None
        return await self.runner.run(job)

    async def run_until_idle(self, *, account_id: str | None = None, max_jobs: int = 10_000) -> int:
        """Run due jobs until none is due; returns how many ran (tests, ``deskbridge sync``)."""
        ran = 0
        while ran < max_jobs and await self.run_one(account_id=account_id) is not None:
            ran += 1
        return ran

    async def run_forever(self) -> None:
        slots = asyncio.Semaphore(self.config.concurrency)
        running: set[asyncio.Task[None]] = set()
        log.info("sync worker %s started (concurrency %d)", self.name, self.config.concurrency)
        # Ticket-sharing deliveries run wherever sync runs: what sync finds is sent from the same process.
        sharing = asyncio.create_task(SharingDelivery(self.services).run_forever(self._stop))
        while not self._stop.is_set():
            await slots.acquire()
            job = await jobs.lease_next(
                self.services.engine, self.name, lease_seconds=self.config.runner.lease_seconds
            )
            if job is None:
                slots.release()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), timeout=self.config.poll_seconds)
                continue
            task = asyncio.create_task(self._run(job, slots))
            running.add(task)
            task.add_done_callback(running.discard)
        for task in list(running):
            task.cancel()
        await asyncio.gather(*running, sharing, return_exceptions=True)
        log.info("sync worker %s stopped", self.name)

    async def _run(self, job: jobs.Job, slots: asyncio.Semaphore) -> None:
        # Both lines carry the wall clock, so runs logged by several workers can be put in order, and
        # the lease (``<worker>#<token>``), which tells two runs of one job by one worker apart.
        key = (job.linked_account_id, job.model, job.run_id, job.lease)
        jobs.runs_log.info("job %s/%s run %d leased by %s at %.6f", *key, time.time())
        status = "ERROR"
        try:
            status = await self.runner.run(job)
        finally:
            jobs.runs_log.info("job %s/%s run %d %s by %s at %.6f", *key[:3], status, job.lease, time.time())
            slots.release()

"""A NATS JetStream pull consumer: fetch a batch, hand it to the handler (which commits),
then acknowledge each event the handler is done with and ask again for the rest (`nak`).
A consumer killed between the commit and the acks gets the batch again; the handler's
de-duplication by call id makes that harmless. The durable consumer remembers the position
across restarts."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any

from rebill.services.streaming import Outcome, StreamUnavailable

logger = logging.getLogger("rebill.stream")
connect_seconds_max = 10.0


class NatsCallStream:
    def __init__(
        self,
        url: str,
        stream: str,
        durable: str = "rebill-calls",
        subject: str | None = None,
        batch: int = 200,
        fetch_timeout_seconds: float = 1.0,
    ) -> None:
        self.url, self.stream, self.durable = url, stream, durable
        self.subject = subject
        self.batch, self.fetch_timeout = batch, fetch_timeout_seconds

    def run(
        self,
        handle: Callable[[list[bytes]], list[Outcome]],
        stop: threading.Event,
        idle_exit: bool = False,
    ) -> int:
        """Consume until `stop` is set (or, with `idle_exit`, until a fetch finds nothing).
        The number of events acknowledged."""
        return asyncio.run(self._run(handle, stop, idle_exit))

    async def _run(
        self, handle: Callable[[list[bytes]], list[Outcome]], stop: threading.Event, idle_exit: bool
    ) -> int:
        import nats
        from nats.errors import Error as NatsError
        from nats.errors import TimeoutError as FetchTimeout

        try:
            # Reconnects for ever once connected (a NATS restart is survived); the first
            # connection gets `connect_seconds_max`.
            connection = await asyncio.wait_for(
                nats.connect(self.url, max_reconnect_attempts=-1, connect_timeout=5),
                connect_seconds_max,
            )
        except (NatsError, OSError, TimeoutError) as exc:
            raise StreamUnavailable(f"cannot connect to NATS at {self.url}: {exc!r}") from exc
        acked = 0
        try:
            js = connection.jetstream()
            try:
                subject = self.subject or await self._subject(js)
                subscription = await js.pull_subscribe(
                    subject, durable=self.durable, stream=self.stream
                )
            except NatsError as exc:
                raise StreamUnavailable(
                    f"cannot read stream {self.stream!r} on {self.url}: {exc}"
                ) from exc
            while not stop.is_set():
                try:
                    messages = await subscription.fetch(self.batch, timeout=self.fetch_timeout)
                except (FetchTimeout, TimeoutError):
                    # nats-py raises its own TimeoutError or, from inside a fetch of n
                    # messages, asyncio's (the built-in one): either means nothing came.
                    if idle_exit and await _drained(subscription):
                        break
                    continue
                try:
                    outcomes = await asyncio.to_thread(handle, [m.data for m in messages])
                except Exception:  # the database is away...: all of them come again
                    logger.exception("batch not recorded; redelivered later")
                    outcomes = [Outcome("retry")] * len(messages)
                    await asyncio.sleep(1.0)
                acked += await _settle(messages, outcomes)
        finally:
            try:
                await connection.drain()
            except (NatsError, TimeoutError):  # acks were sent with ack_sync: nothing is lost
                await connection.close()
        return acked

    async def _subject(self, js: Any) -> str:
        info = await js.stream_info(self.stream)
        subjects = list(info.config.subjects or [])
        return subjects[0] if len(subjects) == 1 else ">"


async def _drained(subscription: Any) -> bool:
    """Idle for good: nothing left to deliver and nothing delivered but unacknowledged (a
    consumer killed mid-batch leaves its messages pending until their ack wait ends; they
    come again, so `--until-idle` waits for them)."""
    info = await subscription.consumer_info()
    return not (info.num_pending or info.num_ack_pending)


async def _settle(messages: list[Any], outcomes: list[Outcome]) -> int:
    acked = 0
    for message, outcome in zip(messages, outcomes, strict=True):
        if outcome.done:
            await message.ack_sync()
            acked += 1
        else:
            await message.nak(delay=1.0)
    return acked

"""Background threads: read ahead of a consumer (decoding, training data) or write behind it.

PyAV releases the GIL inside FFmpeg (demuxing, decoding, colour conversion, encoding,
muxing), and NumPy and PyTorch release it in their copies, so a decode thread and an encode
thread (retargeting) or a data thread (training) run beside the thread that drives the model.
They hand items over through bounded queues, so memory holds a few items in flight. An
exception in a background thread is raised again in the caller's thread; leaving the `with`
block, by an exception or Ctrl-C included, stops and joins the thread, so it never outlives
the reader or writer it uses.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import Generic, TypeVar

T = TypeVar("T")

_POLL_S = 0.05  # how often a thread blocked on a queue looks whether the other side stopped
_END = object()  # the item after the last


def _put(into: queue.Queue, item: object, given_up: threading.Event) -> bool:
    """Put `item`, waiting while `into` is full; False if `given_up` is set meanwhile."""
    while not given_up.is_set():
        try:
            into.put(item, timeout=_POLL_S)
            return True
        except queue.Full:
            continue
    return False


def _bounded_queue(depth: int) -> queue.Queue:
    if depth < 1:
        raise ValueError(f"queue depth must be at least 1, got {depth}")
    return queue.Queue(maxsize=depth)


class BackgroundIterator(Generic[T]):
    """Iterate `items` in a thread, at most `depth` items ahead of the consumer.

    >>> with BackgroundIterator(decoded_frames(), depth=16) as frames:
    ...     for frame in frames: ...
    """

    def __init__(self, items: Iterable[T], depth: int, name: str = "recyclegan-producer"
                 ) -> None:
        self._items = items
        self._queue = _bounded_queue(depth)
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._produce, name=name, daemon=True)

    def _produce(self) -> None:
        try:
            for item in self._items:
                if not _put(self._queue, item, self._stop):
                    return
        except BaseException as error:  # raised again in the consumer's thread
            self._error = error
        _put(self._queue, _END, self._stop)

    def __enter__(self) -> BackgroundIterator[T]:
        self._thread.start()
        return self

    def __iter__(self) -> Iterator[T]:
        while (item := self._queue.get()) is not _END:
            yield item
        if self._error is not None:
            raise self._error

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()


class BackgroundSink(Generic[T]):
    """Call `consume` on each item `put` here, in order, in a thread, at most `depth` behind.

    An exception from `consume` is raised again by the next `put` or by `close`; the items
    after it are dropped. `close`, or leaving the `with` block normally, waits until every
    item is consumed; leaving it by an exception drops the items still queued.
    """

    def __init__(self, consume: Callable[[T], None], depth: int,
                 name: str = "recyclegan-consumer") -> None:
        self._consume = consume
        self._queue = _bounded_queue(depth)
        self._stop = threading.Event()  # set by the producer's side, or when consume failed
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                item = self._queue.get(timeout=_POLL_S)
            except queue.Empty:
                continue
            if item is _END:
                return
            try:
                self._consume(item)
            except BaseException as error:  # raised again in the producer's thread
                self._error = error
                self._stop.set()

    def __enter__(self) -> BackgroundSink[T]:
        self._thread.start()
        return self

    def put(self, item: T) -> None:
        if not _put(self._queue, item, self._stop):
            self._raise()

    def close(self) -> None:
        """Wait until every item put has been consumed; raise the consumer's error, if any."""
        _put(self._queue, _END, self._stop)
        self._thread.join()
        self._raise()

    def _raise(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if error is None:
            self.close()
        else:
            self._stop.set()
            self._thread.join()

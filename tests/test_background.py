"""The background decode and encode threads: order, bounded memory, errors, clean stops."""

import itertools
import threading
import time

import pytest

from recyclegan.background import BackgroundIterator, BackgroundSink


def live_workers():
    return [t for t in threading.enumerate() if t.name.startswith("test-worker")]


def test_iterator_keeps_order_and_stays_a_bounded_distance_ahead():
    produced = []

    def numbers():
        for number in range(50):
            produced.append(number)
            yield number

    with BackgroundIterator(numbers(), depth=3, name="test-worker") as items:
        iterator = iter(items)
        assert next(iterator) == 0
        time.sleep(0.2)
        assert len(produced) <= 1 + 3 + 1  # consumed, queued, and one waiting to be queued
        assert list(iterator) == list(range(1, 50))
    assert not live_workers()


def test_iterator_raises_the_producers_error_in_the_consumer():
    def failing():
        yield 1
        raise ValueError("damaged frame")

    seen = []
    with (pytest.raises(ValueError, match="damaged frame"),
          BackgroundIterator(failing(), depth=2, name="test-worker") as items):
        seen.extend(items)
    assert seen == [1] and not live_workers()


def test_leaving_early_stops_an_endless_producer():
    with (pytest.raises(KeyboardInterrupt),
          BackgroundIterator(itertools.count(), depth=2, name="test-worker") as items):
        for number in items:
            if number == 5:
                raise KeyboardInterrupt
    assert not live_workers()


def test_sink_consumes_in_order_and_close_waits_for_all():
    consumed = []
    with BackgroundSink(consumed.append, depth=2, name="test-worker") as sink:
        for number in range(100):
            sink.put(number)
    assert consumed == list(range(100)) and not live_workers()


def test_sink_raises_the_consumers_error_in_the_producer():
    def consume(number):
        if number == 3:
            raise OSError("disk full")

    with (pytest.raises(OSError, match="disk full"),
          BackgroundSink(consume, depth=2, name="test-worker") as sink):
        for number in range(1000):
            sink.put(number)
    assert number < 1000 and not live_workers()


def test_sink_left_by_an_error_drops_the_rest_and_stops():
    consumed = []

    def slow(number):
        time.sleep(0.01)
        consumed.append(number)

    with (pytest.raises(KeyboardInterrupt),
          BackgroundSink(slow, depth=50, name="test-worker") as sink):
        for number in range(50):
            sink.put(number)
        raise KeyboardInterrupt
    assert len(consumed) < 50 and not live_workers()

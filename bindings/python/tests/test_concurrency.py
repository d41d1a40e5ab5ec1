"""Many Python threads using one sender at once; blocking calls release the GIL."""

from __future__ import annotations

import array
import threading
import time
from typing import List

import promrw

from conftest import Sink, config

T0 = 1_700_000_000_000
THREADS = 8


def run_threads(target, count: int = THREADS) -> None:  # type: ignore[no-untyped-def]
    """Runs ``target(i)`` on ``count`` threads started together; re-raises their errors."""
    barrier = threading.Barrier(count)
    errors: List[BaseException] = []

    def body(i: int) -> None:
        try:
            barrier.wait()
            target(i)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors


def test_eight_threads_append_concurrently(sink: Sink) -> None:
    """8 threads register series and append with append, append_stale and append_many at once;
    every sample arrives once and in order."""
    series_per_thread = 20
    rounds = 50
    with promrw.Sender(config(sink.url, min_shards=4)) as sender:

        def work(i: int) -> None:
            refs = [sender.series({"__name__": "py_threads", "thread": str(i), "s": str(k)})
                    for k in range(series_per_thread)]
            refs_array = array.array("Q", refs)
            for r in range(rounds):
                ts = T0 + r * 1000
                if r % 2:
                    sender.append_many(refs_array,
                                       array.array("d", [float(r)] * series_per_thread),
                                       array.array("q", [ts] * series_per_thread))
                else:
                    for ref in refs:
                        sender.append(ref, float(r), ts)
            for ref in refs:
                sender.append_stale(ref, T0 + rounds * 1000)

        run_threads(work)
        sender.flush(60)
        expected = THREADS * series_per_thread * (rounds + 1)
        stats = sender.stats()
        assert stats["samples_appended"] == expected
        assert stats["samples_acked"] == expected
        assert stats["samples_failed"] == 0
        assert stats["series"] == THREADS * series_per_thread
    assert sink.wait_for(expected) == expected
    assert sink.series == THREADS * series_per_thread
    sink.assert_clean()


def test_eight_threads_register_the_same_series(sink: Sink) -> None:
    """Registering one label set from 8 threads at once gives one reference."""
    refs: List[int] = []
    with promrw.Sender(config(sink.url)) as sender:
        run_threads(lambda i: refs.append(sender.series({"__name__": "py_same", "job": "x"})))
        assert len(set(refs)) == 1
        assert sender.stats()["series"] == 1


def test_one_series_from_eight_threads(sink: Sink) -> None:
    """Threads racing on one series: each timestamp is accepted once, others are refused as
    out of order, and nothing out of order reaches the receiver."""
    accepted = [0] * THREADS
    with promrw.Sender(config(sink.url)) as sender:
        ref = sender.series({"__name__": "py_race"})

        def work(i: int) -> None:
            for k in range(2000):
                try:
                    sender.append(ref, float(i), T0 + k)
                    accepted[i] += 1
                except promrw.OutOfOrderError:
                    pass

        run_threads(work)
        sender.flush(30)
        stats = sender.stats()
        assert stats["samples_appended"] == sum(accepted) <= 2000
        assert stats["samples_acked"] == sum(accepted)
    assert sink.wait_for(sum(accepted)) == sum(accepted)
    sink.assert_clean()


def test_close_while_threads_append(sink: Sink) -> None:
    """Closing while 8 threads append: they get ClosedError and stop; no crash, and what
    was accepted was sent."""
    counts = [0] * THREADS
    with promrw.Sender(config(sink.url)) as sender:
        refs = [sender.series({"__name__": "py_close_race", "t": str(i)}) for i in range(THREADS)]
        started = threading.Barrier(THREADS + 1)

        def work(i: int) -> None:
            started.wait()
            t = T0
            while True:
                t += 1
                try:
                    sender.append_many(refs[i], [1.0], [t])
                except promrw.ClosedError:
                    return
                counts[i] += 1

        threads = [threading.Thread(target=work, args=(i,)) for i in range(THREADS)]
        for th in threads:
            th.start()
        started.wait()
        # Close while every thread is appending: once each has appended a few samples.
        deadline = time.monotonic() + 30
        while min(counts) < 10:
            assert time.monotonic() < deadline, f"threads did not get going: {counts}"
            time.sleep(0.001)
        sender.close(30)
        for th in threads:
            th.join(30)
            assert not th.is_alive()
    assert sink.wait_for(sum(counts)) == sum(counts)
    sink.assert_clean()


def test_flush_releases_the_gil(dead_url: str) -> None:
    """While flush waits in the library, other Python threads keep running."""
    sender = promrw.Sender(config(dead_url), close_timeout=0.05)
    sender.append(sender.series({"__name__": "py_gil"}), 1.0, T0)
    ticks = 0
    stop = threading.Event()

    def spin() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            time.sleep(0.001)

    spinner = threading.Thread(target=spin)
    spinner.start()
    try:
        try:
            sender.flush(0.5)
        except promrw.DeadlineExceededError:
            pass
    finally:
        stop.set()
        spinner.join()
    assert ticks >= 100, f"the other thread ran only {ticks} times during a 0.5 s flush"
    try:
        sender.close()
    except promrw.DeadlineExceededError:
        pass

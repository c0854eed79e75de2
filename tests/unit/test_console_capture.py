"""Console capture units: line splitting, carriage returns, the tee, thread routing."""

from __future__ import annotations

import io
import sys
import threading
from collections.abc import Iterator

import pytest

from nbrun import _console
from nbrun._console import ConsoleSink, split_lines


@pytest.fixture(autouse=True)
def _keep_default_sink() -> Iterator[None]:
    """These tests point the default sink elsewhere; put nbrun's own resolver back after."""
    before = _console._hub.default
    yield
    _console.set_default(before)


def test_lines_split_at_newlines_and_keep_empty_ones() -> None:
    assert split_lines("a\n\nb\nc") == ["a", "", "b", "c"]


def test_carriage_return_keeps_the_last_state_of_a_progress_bar() -> None:
    bar = "".join(f"\r{i:3d}% |{'#' * (i // 10):10s}|" for i in range(0, 101, 5)) + "\n"
    assert split_lines("start\n" + bar + "end\n") == ["start", "100% |##########|", "end"]


def test_carriage_return_then_newline_keeps_the_line() -> None:
    assert split_lines("abc\r\ndef\r\n") == ["abc", "def"]
    assert split_lines("loading...\rdone\n") == ["done"]


def test_open_line_is_visible_and_updated_then_finished_on_close() -> None:
    sink = ConsoleSink(lambda: 7)
    sink.feed("stderr", "\r 10%")
    lines, open_ = sink.take()
    assert lines == [] and open_ is not None and [x[3] for x in open_] == [" 10%"]
    sink.feed("stderr", "\r 50%")
    assert [x[3] for x in sink.take()[1] or []] == [" 50%"]
    assert sink.take() == ([], None)  # unchanged
    sink.close()
    lines, open_ = sink.take()
    assert [(x[1], x[2], x[3]) for x in lines] == [(7, "stderr", " 50%")]
    assert open_ == []


def test_streams_keep_separate_open_lines() -> None:
    sink = ConsoleSink(lambda: 0)
    sink.feed("stdout", "out-")
    sink.feed("stderr", "err\n")
    sink.feed("stdout", "done\n")
    assert [(x[2], x[3]) for x in sink.take()[0]] == [("stderr", "err"), ("stdout", "out-done")]


def test_tee_shows_output_and_routes_threads_to_their_sink(
    capsys: pytest.CaptureFixture[str],
) -> None:
    main_sink = ConsoleSink(lambda: 1)
    thread_sink = ConsoleSink(lambda: 2)
    _console.set_default(lambda: main_sink)
    _console.start(main_sink)
    _console.start(thread_sink)
    try:
        print("from main")

        def work() -> None:
            _console.bind_thread(thread_sink)
            try:
                print("from thread")
                print("thread err", file=sys.stderr)
            finally:
                _console.unbind_thread()

        t = threading.Thread(target=work)
        t.start()
        t.join()
    finally:
        _console.stop(thread_sink)
        _console.stop(main_sink)
    out = capsys.readouterr()
    assert "from main\n" in out.out and "from thread\n" in out.out
    assert "thread err\n" in out.err
    assert [x[3] for x in main_sink.take()[0]] == ["from main"]
    assert [(x[2], x[3]) for x in thread_sink.take()[0]] == [
        ("stdout", "from thread"),
        ("stderr", "thread err"),
    ]


class _SlotStream:
    """A stream whose ``write`` cannot be replaced on the instance (no ``__dict__``)."""

    __slots__ = ("buf",)

    def __init__(self) -> None:
        self.buf = io.StringIO()

    def write(self, s: str) -> int:
        return self.buf.write(s)

    def flush(self) -> None:
        pass


def test_a_stream_without_instance_attributes_is_proxied_and_restored() -> None:
    raw = _SlotStream()
    before = sys.stdout
    sys.stdout = raw  # type: ignore[assignment]
    sink = ConsoleSink(lambda: 0)
    try:
        _console.set_default(lambda: sink)
        _console.start(sink)
        assert sys.stdout is not raw
        print("via proxy")
        sys.stdout.flush()
        _console.stop(sink)
        assert sys.stdout is raw
    finally:
        sys.stdout = before
    assert raw.buf.getvalue() == "via proxy\n"
    assert [x[3] for x in sink.take()[0]] == ["via proxy"]


def test_a_text_wrapper_keeps_its_identity() -> None:
    raw = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    before = sys.stdout
    sys.stdout = raw
    sink = ConsoleSink(lambda: 0)
    try:
        _console.set_default(lambda: sink)
        _console.start(sink)
        assert sys.stdout is raw
        print("in place")
        _console.stop(sink)
        assert "write" not in vars(raw)
        print("after")
    finally:
        sys.stdout = before
    raw.seek(0)
    assert raw.read() == "in place\nafter\n"
    assert [x[3] for x in sink.take()[0]] == ["in place"]

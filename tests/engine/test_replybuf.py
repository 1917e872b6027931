"""Worker replies read into a kept buffer give exactly what ``Connection.send_bytes`` sent."""

from __future__ import annotations

import multiprocessing
import os
import threading

import pytest

from etlcore.runners.replybuf import ReplyReader


def test_messages_of_every_size_come_back_whole_and_in_order():
    mine, theirs = multiprocessing.Pipe(duplex=True)
    sizes = [0, 1, 4, 16_384, 16_385, 70_000, 1 << 20, 3, 300_000]
    sent = [bytes([i % 251]) * n for i, n in enumerate(sizes)]

    def send() -> None:  # a thread: a 1 MiB message does not fit in the pipe at once
        for message in sent:
            theirs.send_bytes(message)

    sender = threading.Thread(target=send)
    sender.start()
    reader = ReplyReader(mine.fileno())
    got = [bytes(reader.read()) for _ in sent]
    sender.join()
    assert got == sent
    mine.close()
    theirs.close()


def test_a_pipe_closed_mid_message_is_an_eof():
    mine, theirs = multiprocessing.Pipe(duplex=True)
    theirs.send_bytes(b"whole")
    os.write(theirs.fileno(), (1000).to_bytes(4, "big") + b"only part of it")  # cut short
    theirs.close()
    reader = ReplyReader(mine.fileno())
    assert bytes(reader.read()) == b"whole"
    with pytest.raises(EOFError):
        reader.read()
    with pytest.raises(EOFError):
        reader.read()  # and at a message boundary too
    mine.close()

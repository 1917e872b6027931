"""Word count over a socket: run `nc -lk 9999`, then `etlcore run examples/wordcount_socket.py`, and type lines.

Spark's NetworkWordCount with the StreamingContext API: every second, the
words typed in that second and their counts. Received lines are logged under
the checkpoint before a batch plans over them, so a restart loses none.
Set ``WORDCOUNT_PORT`` to use another port.
"""

import os

from etlcore import StreamingContext


def build() -> StreamingContext:
    ctx = StreamingContext(batch_interval="1s", name="wordcount_socket",
                           checkpoint="etlcore-examples/wordcount_socket/checkpoint")
    port = int(os.environ.get("WORDCOUNT_PORT", "9999"))
    lines = ctx.source("socket", host="127.0.0.1", port=port)
    words = lines.flat_map(str.split).map(lambda w: (w.lower(), 1))
    words.reduce_by_key("sum").pprint(20)
    return ctx

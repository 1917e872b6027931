"""Word count over new files in a directory: `etlcore run examples/wordcount_directory.py --until-idle`.

Reads the ``.txt`` files in ``examples/data/words`` (add files while it runs:
write them under a name starting with ``.`` and rename), counts the words of
each batch and upserts ``(batch_time, word, count)`` into
``etlcore-examples/wordcount_directory/counts.db``; totals are
``SELECT word, SUM(count) FROM word_counts GROUP BY word``. The checkpoint
remembers which files were read, so a second run reads only new ones.
"""

from pathlib import Path

from etlcore.job import Job

WORDS = Path(__file__).parent / "data" / "words"
OUT = Path("etlcore-examples") / "wordcount_directory"

job = Job(
    "wordcount_directory",
    source=("directory", {"path": str(WORDS), "format": "text", "pattern": "*.txt"}),
    transform=[
        {"split_words": {"lower": True}},
        {"count_by_value": {}},
        {"to_dict": {"fields": ["word", "count"], "batch_time": "batch_time"}},
        {"sort": {"by": "count", "descending": True}},
    ],
    store=[
        ("console", {"limit": 10}),
        ("sqlite", {"path": str(OUT / "counts.db"), "table": "word_counts",
                    "key": ["batch_time", "word"], "columns": ["batch_time", "word", "count"]}),
    ],
    checkpoint=OUT / "checkpoint",
)

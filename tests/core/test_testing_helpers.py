from etlcore.testing import run_batches


def test_run_batches_word_count():
    out = run_batches(
        [["a b", "a"], ["b"]],
        lambda s: s.flat_map(str.split).map(lambda w: (w, 1)).reduce_by_key("sum"),
    )
    assert dict(out[0]) == {"a": 2, "b": 1}
    assert dict(out[1]) == {"b": 1}

"""``etlcore demo --source twitter-standin``: the demo job over the stand-in, and without it."""

from __future__ import annotations

import sys
from pathlib import Path

from twitter_testlib import rows

from etlcore.cli.main import main


def test_demo_on_the_standin_counts_hashtags(tmp_path: Path, capsys) -> None:
    code = main(["demo", "--source", "twitter-standin", "--out", str(tmp_path),
                 "--duration", "5", "--rate", "100"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "X API stand-in on http://127.0.0.1:" in out
    db = tmp_path / "twitter-demo.db"
    tweets = rows(db, "SELECT count(*) FROM tweets")[0][0]
    counted = rows(db, "SELECT count(*), max(count) FROM hashtag_counts")[0]
    assert tweets > 50 and counted[0] > 10 and counted[1] > 1, (tweets, counted)
    assert "'tag': '#" in out  # the console shows the top tags


def test_demo_without_the_plugin_says_what_to_install(tmp_path: Path, capsys,
                                                      monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "etlcore_twitter.demo", None)  # as if not installed
    code = main(["demo", "--source", "twitter-standin", "--out", str(tmp_path),
                 "--duration", "1"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "etlcore demo --source twitter-standin needs" in err and "pip install" in err, err
    assert not (tmp_path / "twitter-demo.db").exists()


def test_demo_refuses_a_rate_that_is_not_positive(tmp_path: Path, capsys) -> None:
    code = main(["demo", "--source", "twitter-standin", "--out", str(tmp_path), "--rate", "0",
                 "--duration", "1"])
    err = capsys.readouterr().err
    assert code == 2 and "'--rate'" in err and "positive" in err, err

"""Bitrate and list parsing for ``muzip bench`` options."""

from __future__ import annotations

import pytest

from neuralcodec.bench.units import BenchError, parse_kbps, parse_kbps_list, parse_name_list


@pytest.mark.parametrize(
    ("text", "kbps"),
    [("16k", 16.0), ("16K", 16.0), ("16kbps", 16.0), ("16 kbit/s", 16.0), ("16000", 16.0),
     ("16", 16.0), ("6.5k", 6.5), ("64000bps", 64.0), ("128", 128.0)],
)
def test_parse_kbps_accepts_common_spellings(text: str, kbps: float) -> None:
    assert parse_kbps(text) == pytest.approx(kbps)


@pytest.mark.parametrize("text", ["", "k", "fast", "-8k", "16 MB", "0", "5000k"])
def test_parse_kbps_rejects_nonsense_with_a_clear_message(text: str) -> None:
    with pytest.raises(BenchError, match="bitrate"):
        parse_kbps(text)


def test_lists_are_sorted_and_deduplicated() -> None:
    assert parse_kbps_list("32k, 8k,16000,8") == [8.0, 16.0, 32.0]
    assert parse_name_list("MP3, opus,mp3,,resample") == ["mp3", "opus", "resample"]
    with pytest.raises(BenchError):
        parse_kbps_list(" , ")
    with pytest.raises(BenchError):
        parse_name_list("")

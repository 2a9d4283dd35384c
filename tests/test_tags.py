"""Tags: read from FLAC/OGG/MP3/WAV, carried in the header, shown by info, written back by decode."""

from __future__ import annotations

import io
from pathlib import Path

import mutagen
import numpy as np
import pytest
import soundfile as sf
from conftest import TINY_FREQ, music_like, run_cli

import neuralcodec as nc
from neuralcodec import container
from neuralcodec.errors import MuzipError
from neuralcodec.tags import merge, parse_assignments, read_tags, validate_tags

_call = run_cli  # (exit code, stdout, stderr) of ``muzip ARGS`` run in-process


def _tagged_flac(path: Path, seconds: float = 1.0, **tags: str) -> Path:
    sf.write(path, music_like(seconds).T, 44100, subtype="PCM_16")
    m = mutagen.File(str(path))
    for k, v in tags.items():
        m[k] = v
    m.save()
    return path


def _header(mzp: Path) -> dict:
    with open(mzp, "rb") as f:
        return container.read_header(f)[0].fields


def test_read_tags_from_each_format(tmp_path: Path) -> None:
    flac = _tagged_flac(tmp_path / "a.flac", TITLE="Song", ARTIST="Band", METADATA_BLOCK_PICTURE="AAAA")
    assert read_tags(flac) == {"title": "Song", "artist": "Band"}  # keys lower-cased, pictures dropped

    ogg = tmp_path / "a.ogg"
    sf.write(ogg, music_like(0.5).T, 44100, format="OGG", subtype="VORBIS")
    m = mutagen.File(str(ogg))
    m["album"] = ["One", "Two"]
    m.save()
    assert read_tags(ogg)["album"] == "One; Two"  # several values: one string

    wav = tmp_path / "a.wav"
    with sf.SoundFile(wav, "w", 44100, 2, subtype="PCM_16") as f:
        f.write(music_like(0.5).T)
        f.title, f.artist = "Wav Title", "Wav Artist"
    assert read_tags(wav) == {"title": "Wav Title", "artist": "Wav Artist"}  # RIFF LIST/INFO

    if "MP3" in sf.available_formats():
        from mutagen.easyid3 import EasyID3

        mp3 = tmp_path / "a.mp3"
        sf.write(mp3, music_like(0.5).T, 44100, format="MP3")
        try:
            id3 = EasyID3(str(mp3))
        except Exception:
            id3 = EasyID3()
        id3["title"], id3["tracknumber"] = "Mp3 Title", "7"
        id3.save(str(mp3))
        assert read_tags(mp3) == {"title": "Mp3 Title", "tracknumber": "7"}

    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"not audio at all" * 10)
    assert read_tags(junk) == {}  # never raises: tags are a courtesy


def test_tag_rules() -> None:
    assert parse_assignments(["Genre=Jazz", "comment=a=b", "date="]) == {"genre": "Jazz", "comment": "a=b", "date": ""}
    assert merge({"title": "Old", "date": "1999"}, {"title": "New", "date": ""}) == {"title": "New"}
    for bad in (["novalue"], ["=x"], ["has space=x"]):
        with pytest.raises(MuzipError):
            parse_assignments(bad)
    with pytest.raises(MuzipError, match="longer than"):
        validate_tags({"title": "x" * 5000})
    with pytest.raises(MuzipError, match="must be text"):
        validate_tags({"title": 3})
    with pytest.raises(MuzipError, match="object"):
        validate_tags(["title"])


def test_flac_tags_through_mzp_to_flac_and_wav(tmp_path: Path) -> None:
    """Acceptance: a FLAC with title/artist -> .mzp -> info shows them -> decoded FLAC carries them."""
    src = _tagged_flac(tmp_path / "song.flac", title="Blue in Green", artist="Quartet", genre="Jazz")
    mzp = tmp_path / "song.mzp"
    code, _, err = _call(["encode", str(src), "-o", str(mzp), "-m", TINY_FREQ, "-q"])
    assert code == 0, err
    assert _header(mzp)["tags"] == {"title": "Blue in Green", "artist": "Quartet", "genre": "Jazz"}
    code, out, err = _call(["info", str(mzp)])
    assert code == 0, err
    assert "title = Blue in Green" in out and "artist = Quartet" in out
    code, out, _ = _call(["info", str(mzp), "--json"])
    assert '"title": "Blue in Green"' in out

    back = tmp_path / "back.flac"
    code, _, err = _call(["decode", str(mzp), "-o", str(back), "-q"])
    assert code == 0, err
    tags = mutagen.File(str(back)).tags
    assert tags["title"] == ["Blue in Green"] and tags["artist"] == ["Quartet"] and tags["genre"] == ["Jazz"]

    wav = tmp_path / "back.wav"
    assert _call(["decode", str(mzp), "-o", str(wav), "-q"])[0] == 0
    meta = sf.SoundFile(wav).copy_metadata()
    assert meta["title"] == "Blue in Green" and meta["artist"] == "Quartet"

    plain = tmp_path / "plain.wav"
    assert _call(["decode", str(mzp), "-o", str(plain), "-q", "--discard-tags"])[0] == 0
    assert "title" not in sf.SoundFile(plain).copy_metadata()


def test_tag_options_override_and_discard(tmp_path: Path) -> None:
    src = _tagged_flac(tmp_path / "in.flac", title="Old", artist="Someone", date="1999")
    a = tmp_path / "a.mzp"
    args = ["encode", str(src), "-m", TINY_FREQ, "-q", "--title", "New", "--tag", "date=", "-T", "mood=calm", "-o"]
    assert _call([*args, str(a)])[0] == 0
    assert _header(a)["tags"] == {"title": "New", "artist": "Someone", "mood": "calm"}
    b = tmp_path / "b.mzp"
    assert _call(["encode", str(src), "-m", TINY_FREQ, "-q", "--discard-tags", "--album", "X", "-o", str(b)])[0] == 0
    assert _header(b)["tags"] == {"album": "X"}
    c = tmp_path / "c.mzp"
    assert _call(["encode", str(src), "-m", TINY_FREQ, "-q", "--discard-tags", "-o", str(c)])[0] == 0
    assert "tags" not in _header(c)  # the field is optional: absent when there are none
    code, _, err = _call(["encode", str(src), "-m", TINY_FREQ, "--tag", "bad key=x", "-o", str(tmp_path / "d.mzp")])
    assert code == 1 and "tag name" in err and "Traceback" not in err
    assert not (tmp_path / "d.mzp").exists()


def test_tags_do_not_change_the_audio() -> None:
    """Tags are an optional header field: the coded audio and what a reader decodes are the same."""
    x = music_like(1.0)
    plain = nc.encode(x, 44100, model=TINY_FREQ)
    tagged = nc.encode(x, 44100, model=TINY_FREQ, tags={"title": "T", "artist": "A"})
    assert len(tagged) > len(plain)
    a, _ = nc.decode(plain)
    b, _ = nc.decode(tagged)
    np.testing.assert_array_equal(a, b)
    h, first = container.read_header(io.BytesIO(tagged))
    assert h.fields["tags"] == {"title": "T", "artist": "A"} and "tags" in h.extra  # not a required key


def test_info_escapes_control_characters(tmp_path: Path) -> None:
    data = nc.encode(music_like(0.5), 44100, model=TINY_FREQ, tags={"title": "evil\x1b[2Jtitle"})
    p = tmp_path / "e.mzp"
    p.write_bytes(data)
    code, out, _ = _call(["info", str(p)])
    assert code == 0 and "\x1b" not in out and "evil\\x1b[2Jtitle" in out


@pytest.mark.parametrize("bad", [[["title", "x"]], {"title": 5}, {"bad key": "x"}, "text"])
def test_malformed_tags_field_still_decodes(tmp_path: Path, bad: object) -> None:
    """Tags are optional: a damaged field is dropped, the audio still decodes and info still works."""
    good = nc.encode(music_like(0.5), 44100, model=TINY_FREQ, tags={"title": "T"})
    f = io.BytesIO(good)
    h, first = container.read_header(f)
    offsets = container.read_index(f, h, first)
    payloads = []
    for i, off in enumerate(offsets):
        f.seek(off)
        payloads.append(container.read_packet(f, i, off))
    h.fields["tags"] = bad
    out = io.BytesIO()
    container.write_file(out, container.Header(h.fields), payloads)
    p = tmp_path / "bad_tags.mzp"
    p.write_bytes(out.getvalue())
    code, text, err = _call(["info", str(p)])
    assert code == 0 and "title = " not in text and "bitrate" in text, err
    wav = tmp_path / "o.flac"
    code, _, err = _call(["decode", str(p), "-o", str(wav), "-q"])
    assert code == 0, err
    assert "title" not in (mutagen.File(str(wav)).tags or {})

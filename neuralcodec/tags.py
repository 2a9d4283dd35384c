"""Tags (title, artist, album, ...): read from inputs, carried in the .mzp header, written back.

One vocabulary everywhere: lower-case Vorbis-comment field names (``title``, ``artist``, ``album``,
``albumartist``, ``date``, ``tracknumber``, ``discnumber``, ``genre``, ``composer``, ``comment``...),
which is also what mutagen's "easy" ID3 interface and libsndfile's WAV/AIFF INFO strings use.
In the header they are the optional ``tags`` field: a JSON object of short strings (docs/FORMAT.md).
A field with several values (two ARTIST comments) is kept as one string joined with ``"; "`` and
written back as one value (splitting would break a title that itself holds "; ").

Cover art and other binary blocks are not carried. No torch here.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from .errors import MuzipError

MAX_TAGS = 256
MAX_KEY = 64
MAX_VALUE = 4096
JOIN = "; "
# Vorbis comment rule for field names: ASCII 0x20..0x7D without '='; we also refuse spaces.
_KEY = re.compile(r"^[\x21-\x3c\x3e-\x7d]{1,64}$")
# Binary or meaningless after re-encoding: pictures (base64 blocks) and the source's encoder name.
_SKIP = {"metadata_block_picture", "coverart", "coverartmime", "encoder", "encoded_by", "software"}
# Strings libsndfile can store in WAV (LIST/INFO) and AIFF; other keys cannot go into those formats.
SNDFILE_KEYS = ("title", "copyright", "software", "artist", "comment", "date", "album", "license",
                "tracknumber", "genre")


def normalize_key(key: str) -> str:
    """A tag name as stored: lower case; refused (MuzipError) if it breaks the Vorbis rule."""
    k = key.strip().lower()
    if not _KEY.match(k):
        raise MuzipError(f"tag name {key!r} is not allowed (1-{MAX_KEY} printable ASCII characters, "
                         f"no spaces or '=')")
    return k


def validate_tags(tags: object, where: str = "tags") -> dict[str, str]:
    """Check a tags mapping (header field or API argument): names per :func:`normalize_key`,
    string values of at most MAX_VALUE characters, at most MAX_TAGS entries."""
    if not isinstance(tags, Mapping):
        raise MuzipError(f"{where} must be an object of name -> text")
    if len(tags) > MAX_TAGS:
        raise MuzipError(f"{where}: {len(tags)} tags, at most {MAX_TAGS} are allowed")
    out: dict[str, str] = {}
    for key, value in tags.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise MuzipError(f"{where}: tag {key!r} must be text")
        k = normalize_key(key)
        if len(value) > MAX_VALUE or "\x00" in value:
            raise MuzipError(f"{where}: tag '{k}' is longer than {MAX_VALUE} characters or holds a NUL")
        out[k] = value
    return out


def from_header(value: object) -> dict[str, str]:
    """The ``tags`` field of a file's header, or {} when it is absent or malformed: tags are
    optional, so a damaged field must not stop the audio from decoding."""
    if value is None:
        return {}
    try:
        return validate_tags(value, "header field 'tags'")
    except MuzipError:
        return {}


def parse_assignments(items: Iterable[str]) -> dict[str, str]:
    """``--tag KEY=VALUE`` options; an empty VALUE removes the tag (``--tag comment=``)."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise MuzipError(f"--tag {item!r}: expected KEY=VALUE, e.g. --tag genre=Jazz")
        out[normalize_key(key)] = value
    return out


def _add(out: dict[str, str], key: object, values: object) -> None:
    if not isinstance(key, str):
        return
    k = key.strip().lower()
    if k in _SKIP or not _KEY.match(k):
        return
    vals = [values] if isinstance(values, str) else list(values) if isinstance(values, (list, tuple)) else []
    text = JOIN.join(str(v) for v in vals if str(v).strip())
    if text and len(text) <= MAX_VALUE and "\x00" not in text and len(out) < MAX_TAGS:
        out.setdefault(k, text)


def read_tags(path: str | os.PathLike[str]) -> dict[str, str]:
    """Tags of an audio file: Vorbis comments (FLAC, OGG, Opus), ID3 (MP3), WAV/AIFF INFO strings.

    Never raises for a file it cannot parse: tags are a courtesy, the audio is what matters.
    """
    out: dict[str, str] = {}
    try:
        import mutagen

        m = mutagen.File(str(path), easy=True)
        if m is not None and m.tags is not None and hasattr(m.tags, "keys"):
            for key in list(m.tags.keys()):
                _add(out, key, m.tags[key])
    except Exception:  # mutagen raises many types for odd files; fall through to libsndfile
        pass
    try:
        import soundfile as sf

        with sf.SoundFile(str(path)) as f:
            for key, value in f.copy_metadata().items():
                _add(out, key, value)
    except Exception:
        pass
    return out


def merge(source: Mapping[str, str] | None, overrides: Mapping[str, str] | None) -> dict[str, str]:
    """Input tags overridden by the user's; an override with an empty value deletes the tag."""
    out = dict(source or {})
    for k, v in (overrides or {}).items():
        if v == "":
            out.pop(k, None)
        else:
            out[k] = v
    return validate_tags(out)


def sndfile_strings(tags: Mapping[str, str] | None) -> dict[str, str]:
    """The subset libsndfile can write into WAV/AIFF (set as SoundFile attributes before close)."""
    return {k: v for k, v in (tags or {}).items() if k in SNDFILE_KEYS}


def write_tags(path: str | os.PathLike[str], tags: Mapping[str, str] | None, fmt: str) -> bool:
    """Write ``tags`` into a finished FLAC/OGG/MP3 file with mutagen (the caller's temp file, before
    it is renamed into place). Returns whether the format holds tags; WAV/AIFF tags are written by
    libsndfile instead (:func:`sndfile_strings`)."""
    if not tags:
        return False
    fmt = fmt.upper()
    if fmt == "FLAC":
        from mutagen.flac import FLAC

        m = FLAC(str(path))
    elif fmt == "OGG":
        import mutagen

        m = mutagen.File(str(path))  # Vorbis or Opus, told apart by the stream header
        if m is None:
            return False
    elif fmt == "MP3":
        from mutagen.easyid3 import EasyID3
        from mutagen.id3 import ID3NoHeaderError

        try:
            m = EasyID3(str(path))
        except ID3NoHeaderError:
            m = EasyID3()
        for k, v in tags.items():
            if k in EasyID3.valid_keys:
                m[k] = v
        m.save(str(path))
        return True
    else:
        return False
    if m.tags is None:
        m.add_tags()
    for k, v in tags.items():
        m.tags[k] = [v]
    m.save()
    return True


def describe(tags: Mapping[str, str] | None) -> list[str]:
    """``key = value`` lines for `muzip info`, common fields first."""
    if not tags:
        return []
    order = ["title", "artist", "album", "albumartist", "tracknumber", "discnumber", "date", "genre"]
    keys = [k for k in order if k in tags] + sorted(k for k in tags if k not in order)
    return [f"{k} = {tags[k]}" for k in keys]


def suffix_format(path: Path) -> str:
    """Container name for tag writing from an output suffix (``.opus`` is Ogg)."""
    ext = path.suffix.lower().lstrip(".")
    return {"opus": "OGG", "oga": "OGG", "aif": "AIFF"}.get(ext, ext.upper())

"""What `muzip info` shows: header fields, tags and measured sizes, read without loading a model.

Only the container is read (no torch import), so `muzip info` starts in a fraction of a second.
The split of the payload into scale indices and symbols needs the model's prior and is computed
only when asked for (``parts=True``, `muzip info --parts`).
"""

from __future__ import annotations

import os
from pathlib import Path

from . import container
from .errors import MuzipError
from .tags import from_header


def info(src: str | os.PathLike[str], parts: bool = False) -> dict:
    """Header fields plus measured sizes; ``payload_parts`` is None unless ``parts`` (loads the model)."""
    p = Path(src)
    if not p.exists():
        raise MuzipError(f"{p}: no such file")
    if p.is_dir():
        raise MuzipError(f"{p}: is a directory, expected an .mzp file")
    size = p.stat().st_size
    with open(p, "rb") as f:
        header, first = container.read_header(f)
        offsets = container.read_index(f, header, first)
        sizes = []
        for i, off in enumerate(offsets):
            f.seek(off)
            sizes.append(len(container.read_packet(f, i, off)))
    dur = header["samples"] / header["sample_rate"]
    out = {"header": header.fields, "tags": from_header(header.fields.get("tags")), "file_bytes": size,
           "duration": dur, "kbps": size * 8 / dur / 1000, "header_bytes": first,
           "packet_payload_bytes": sum(sizes), "packet_framing_bytes": container.PACKET_OVERHEAD * len(sizes),
           "index_bytes": container.index_size(len(sizes)), "packets": len(sizes), "packet_sizes": sizes,
           "payload_parts": None}
    if parts and header["model"]["family"] == "mdct":
        from . import layered

        out["payload_parts"] = layered.file_parts(p, sum(sizes))
    elif parts and header["coder"] == "laplace-range-v1":
        from .api import _payload_parts

        out["payload_parts"] = _payload_parts(p, sum(sizes))
    return out

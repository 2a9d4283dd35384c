"""muzip: a neural music codec (package ``neuralcodec``, command ``muzip``)."""

from .api import MzpReader, decode, decode_file, encode, encode_file, info

__all__ = ["MzpReader", "decode", "decode_file", "encode", "encode_file", "info"]
__version__ = "0.1.0"

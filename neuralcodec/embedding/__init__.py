"""What the coded integers know: vectors for search and classification, read from .mzp files.

``latents``  the per-frame integers of a file, entropy-decoded without decoding audio
``pooling``  frames -> one vector (statistics that keep more than a mean)
``head``     an optional learned projection of the pooled vector (weights in models/, npz)
``embed``    files / arrays -> :class:`Embedding` rows (audio files are encoded on the fly)
``table``    rows <-> a Parquet file (the hand-off to search engines)
"""

from .table import Embedding, EmbeddingTable, read_table, write_table

__all__ = ["Embedding", "EmbeddingTable", "read_table", "write_table"]

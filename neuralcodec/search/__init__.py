"""Search and classify embedding vectors (``muzip similar``, ``muzip classify``).

numpy only: :mod:`.index` (exact cosine search, optional USearch), :mod:`.classifier`
(a linear classifier with safe weights), :mod:`.labels` (labels from folders or CSV files).
"""

"""The exact transform layer: MDCT with block switching, bands, envelope, allocation, coefficients,
noise fill, integer-table entropy models and packet coding. Numpy and constriction only (no torch)."""

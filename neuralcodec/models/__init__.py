"""Model families (frequency-domain and time-domain) behind one interface, and their registry."""

from .base import CodecModel
from .registry import available_models, build_model, load_model

__all__ = ["CodecModel", "available_models", "build_model", "load_model"]

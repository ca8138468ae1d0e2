"""Retrieval for LogICL: text encoders, FAISS indexes with metadata, MMR, the demonstration pool, distillation.

Heavy libraries (sentence-transformers, faiss, torch) are imported by the functions that use them, not here.
"""

from retrieval.embed import (
    CachedEncoder,
    Encoder,
    EncoderError,
    HashEncoder,
    MiniLMEncoder,
    ProjectedEncoder,
    get_encoder,
)
from retrieval.index import VectorIndex
from retrieval.mmr import mmr
from retrieval.pool import Demo, DemoPool, InMemoryRetriever, Retrieved, Retriever
from retrieval.shipped import open_in_use, shipped_pool  # registers the pool LogICL opens: yours and/or the shipped one

__all__ = [
    "CachedEncoder",
    "Demo",
    "DemoPool",
    "Encoder",
    "EncoderError",
    "HashEncoder",
    "InMemoryRetriever",
    "MiniLMEncoder",
    "ProjectedEncoder",
    "Retrieved",
    "Retriever",
    "VectorIndex",
    "get_encoder",
    "mmr",
    "open_in_use",
    "shipped_pool",
]

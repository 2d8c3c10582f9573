"""Retrieval benchmark: Soberana's retrieval against BM25, dense (multilingual-e5-small) and RRF baselines."""

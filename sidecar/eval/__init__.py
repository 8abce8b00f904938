"""Relevance evaluation: NDCG@10 of BM25 (OpenSearch) vs reranked (the sidecar)."""

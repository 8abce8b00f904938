"""HTTP routes: the rerank APIs, health, metrics and the OpenSearch search route."""

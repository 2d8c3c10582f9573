"""Knowledge collections, hybrid search and grounded answers with citations."""

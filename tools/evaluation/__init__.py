"""Retrieval evaluation on the product's own ingestion and search path.

``datasets`` builds evaluation sets (corpus + queries + qrels), ``metrics`` scores rankings,
``retrieval`` indexes a corpus with `tools.ingest` and runs the queries through the graph's
offline query path, and ``report`` writes the Markdown table and the bar chart.
"""

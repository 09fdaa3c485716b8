"""Baseline systems the benchmarks compare this graph against (not part of the product)."""

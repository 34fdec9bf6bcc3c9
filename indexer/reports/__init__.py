"""What the review cycle reads: trends (`metrics`), targets, investments, reviews, digest, pack.

Each figure has a documented formula (docs/metrics.md) and takes an `as_of`
day; `tables` gives every chart's numbers as a table (and so a CSV).
"""

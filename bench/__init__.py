"""Benchmarks, run by hand (`python -m bench.<name>`); their figures go into bench/README.md."""

"""Tools beside the lab: the speed benchmark (`python -m benchmarks.bench`) and its GPU scripts."""

"""Benchmarks: each module here with a `main()` prints its own figures (`make bench` runs them all)."""

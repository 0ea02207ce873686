"""Tooling: the command line, the self-check, the benchmarks and their reports, the tuner.
Never imported by the runtime."""

"""Helpers that tests, benchmarks and the self-check share: how to lay out outputs inside canary
buffers and check that nothing outside them changed. Never imported by the runtime."""

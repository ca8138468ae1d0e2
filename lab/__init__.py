"""The lab: benchmarks, training entry points, loaders of ../shared/data and generators of evaluation data.

Not part of the runtime: no module of detectors/, retrieval/, tools/, agent/ or tui/ imports it (tests/test_layers.py
checks), and it is left out of the wheel. It may import anything. The `sleuth` commands that need it (bench, train,
generate, demo) import it lazily and say so when it is missing.
"""

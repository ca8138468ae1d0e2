"""ICAD-LLM lab: data-set loaders and splits, training, the benchmark."""

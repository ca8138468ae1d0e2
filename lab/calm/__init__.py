"""CALM lab: NAB/SMD loaders, training of the shipped forecaster, the benchmark."""

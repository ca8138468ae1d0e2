"""ICAD-LLM: one in-context anomaly scorer for logs, metric series and tables (issue 4).

Import `detectors.icad.detector` to register the "icad" detector (it pulls in torch and transformers, so this
package's `__init__` stays light).
"""

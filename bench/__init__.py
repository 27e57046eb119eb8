"""srrepro harness: datasets, protocol, metrics, evaluation, results and reports."""
__version__ = "0.1.0"

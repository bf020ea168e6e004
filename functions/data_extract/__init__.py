"""data-extract: document extraction as serverless functions."""

__version__ = "0.1.0"

"""Corpus semantic stage: TF-IDF, similarity and near-duplicates, LSA topics, clusters and chunk quality.

Pure (chunks and options in, summary and artifacts out) and deterministic: ``analyze.analyze``. It needs numpy,
scipy and scikit-learn, which only the semantic function's layer carries, so this package imports nothing
itself: ``types`` is plain data any function may use; ``analyze`` (and the modules it uses) load the numerical
stack and are imported by the semantic function only (tests/unit/test_api_cold_start.py checks the others).
"""

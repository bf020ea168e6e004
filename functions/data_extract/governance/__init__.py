"""Governance: score a finished run against a policy shipped as data (``policies/*.json``).

The evaluator lives in ``data_extract.governance.evaluate``; it is pure (result payload in,
outcome out) so finalize can call it and the API can list the policies without AWS access.
"""

"""Tables as data: PDF table finding and rebuilding, ids and the per-file ``tables`` array."""

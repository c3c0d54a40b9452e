"""The HTTP contract: envelopes, trace ids, error answers and request bodies."""

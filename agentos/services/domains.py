"""Imports every domain service module so that each registers itself.

Add one import line per domain module; the order does not matter.
"""

"""Shared state: one async interface, an in-memory and a Redis adapter."""

"""Tests of the relational store: the contract suite and each adapter."""

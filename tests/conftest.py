"""Shared fixtures: real servers on free ports, waited for until ready."""

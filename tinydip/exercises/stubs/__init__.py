"""Stub templates: ``tinydip exercise start NAME`` copies ``NAME.py`` into the learner's folder.

Each stub is a complete, importable Python file whose ``TODO`` blocks raise
NotImplementedError; it never contains the solution.
"""

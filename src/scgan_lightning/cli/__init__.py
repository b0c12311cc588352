"""Thin Hydra entry points: train, predict, evaluate, report, export (``common`` is their
shared plumbing). Nothing below this package imports it."""

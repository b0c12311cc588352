"""Hydra configs, packaged so an installed wheel finds them."""

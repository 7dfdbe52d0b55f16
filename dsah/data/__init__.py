"""Datasets: the embedded synthetic generator, the CUB-200-2011 loader and the in-memory splits."""

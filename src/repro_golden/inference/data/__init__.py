"""Plate + tracks -> VisCy-identical normalized patches and index rows (predict mode).

Modules: :mod:`.plate` (HCS
OME-Zarr positions), :mod:`.tracks` (per-FOV CSVs), :mod:`.index` (the row
table), :mod:`.patches` (geometry, normalization, crop), :mod:`.loader` (the
fast reader) and :mod:`.datamodule` (the Lightning face of it all).
Import the submodules directly; this package imports nothing heavy.
"""

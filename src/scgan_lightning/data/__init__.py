"""Data: image IO, unpaired/paired face datasets and the Lightning DataModule."""

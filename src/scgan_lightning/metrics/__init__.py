"""Image-quality measures: fidelity (PSNR / SSIM), FID / KID, LPIPS, real-LR measures.

Import the submodule of the measure (``scgan_lightning.metrics.fidelity``); backbone weights
for LPIPS and FID are read from paths, never downloaded (``weights``).
"""

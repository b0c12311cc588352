"""Scoring restorers: paired (PSNR / SSIM / LPIPS on HR faces degraded on purpose), unpaired
(real LR faces: consistency, sharpness, FID / KID), the side-by-side report and its tables."""

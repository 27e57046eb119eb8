"""Full-reference image quality metrics (pure functions plus thin classes)."""
from bench.metrics.psnr import PSNR, psnr
from bench.metrics.ssim import SSIM, ssim

__all__ = ["PSNR", "SSIM", "psnr", "ssim"]

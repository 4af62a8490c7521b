"""Files in and out: images (load, save, the built-in sample, HWC <-> NCHW), 16-bit PNG, and
atomic writes with checked paths (``files``). Tier: bottom (NumPy, Pillow; nothing of tinydip)."""

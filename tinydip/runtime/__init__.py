"""Process-level helpers every tier may use: signals as interrupts (``interrupt``) and the
one-line notice while numba compiles (``jit_notice``). Tier: bottom."""

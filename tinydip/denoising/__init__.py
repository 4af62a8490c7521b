"""Classical denoising beside the fits: the noise level from the image alone
(``noise_estimate``), Wiener post-filters guided by a fit (``pilot_wiener``,
``grouped_wiener``) and SURE (``sure``). Tier: above kernels and io; no fitting."""

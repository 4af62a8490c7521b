"""Fitting one network to one image: ``fit_step`` (one Adam step on the energy), the fitting
loop and its hooks, ground-truth-free stopping rules, held-out pixels, and the memory a fit
needs. Tier: above models and operators, below tasks and the codec."""

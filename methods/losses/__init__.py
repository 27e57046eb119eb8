"""The papers' training losses, each a tested function plus a thin module.

Submodules are imported on demand (``methods.losses.perceptual`` etc.) so that importing
the zoo stays light; see each module's docstring for formulas and paper equations.
"""

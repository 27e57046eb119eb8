"""The papers' training losses (pixel, gradient, perceptual, adversarial, dual).

Plain functions of tensors, one module per paper family; each docstring gives the formula and
the paper equation it implements.
"""

"""Training engine: recipes (``recipe.py``), kinds (``kinds/``), data, loop, checkpoints.
See ``bench/train/README.md``; entry point :func:`bench.train.loop.train`."""

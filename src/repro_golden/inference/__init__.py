"""Everything that runs a model: data loading, the model, prediction, the writer, pipelines.

The only layer that imports torch and Lightning (lazily, from the functions
that need them where it matters). Installed with the ``predict`` extra.
"""

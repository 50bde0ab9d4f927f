"""Golden sets: the values (``types``), their file format (``format``, ``full``), how a
store is summarized into one (``summarize``), the directory on disk (``store``: publish,
read, lock), writing one for a store (``write``) and the expectations keyed by
environment (``expectations``). Torch-free.
"""

"""The comparison core: digests, summaries, golden files, comparison and reports.

Nothing under this package imports torch, Lightning, timm or anndata (a test
walks it with :mod:`pkgutil` and checks ``sys.modules``): a CI job that only
checks golden files, and every pytest start-up in a user's project, stay fast,
and ``pip install repro-golden`` without extras can run all of it. It reads
AnnData zarr stores with ``zarr`` directly. It imports nothing from
:mod:`repro_golden.config` or :mod:`repro_golden.inference`.
"""

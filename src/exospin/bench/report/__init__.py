"""report: what the benchmark suites' numbers become for a reader.

``reproduce`` runs every suite under both machine profiles and lays the
results out as the papers' tables; ``plots`` draws them (and is the one
place a PNG is written); ``stride_figure`` and ``paging_figure`` are the
two experiments of docs/exos.md, each a table and a figure. ``tables``
holds what ``reproduce`` and ``plots`` both need (the tables as data), so
that neither imports the other.
"""

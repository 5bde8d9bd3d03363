"""Load Tallyfy into a database with dlt: ``pip install 'aiotallyfy[load]'``.

::

    import dlt
    from aiotallyfy.load import load_tallyfy

    pipeline = dlt.pipeline("tallyfy", destination=dlt.destinations.duckdb("tallyfy.duckdb"),
                            dataset_name="tallyfy")
    summary = load_tallyfy(pipeline, os.environ["TALLYFY_API_TOKEN"])

``tallyfy_source`` is the plain dlt source (``pipeline.run(tallyfy_source(...))``);
``load_tallyfy`` runs it and then marks the rows that vanished (``mark_vanished``). Importing
this package imports dlt; nothing else in aiotallyfy does.
"""

from ._load import LoadSummary, load_tallyfy
from ._report import LoadInterrupted, LoadReport
from ._resources import DELETED_COLUMN, RESOURCES, RUN_COLUMN
from ._source import ClientFactory, tallyfy_source
from ._vanished import TableCounts, mark_vanished, table_counts

__all__ = [
    "DELETED_COLUMN",
    "RESOURCES",
    "RESOURCE_NAMES",
    "RUN_COLUMN",
    "ClientFactory",
    "LoadInterrupted",
    "LoadReport",
    "LoadSummary",
    "TableCounts",
    "load_tallyfy",
    "mark_vanished",
    "table_counts",
    "tallyfy_source",
]

RESOURCE_NAMES: tuple[str, ...] = tuple(spec.name for spec in RESOURCES)

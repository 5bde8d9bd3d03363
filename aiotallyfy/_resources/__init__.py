"""Resource namespaces (``client.tasks``, ``client.organizations``, ...): one module each."""

from ._organizations import Organizations
from ._tasks import Tasks

__all__ = ["Organizations", "Tasks"]

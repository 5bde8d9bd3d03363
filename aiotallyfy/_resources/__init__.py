"""Resource namespaces (``client.tasks``, ``client.organizations``, ...): one module each."""

from ._applications import ApplicationMemberToken, Applications
from ._blueprints import Blueprints
from ._comments import Comments
from ._custom_fields import CustomFieldKey, CustomFieldKeys
from ._files import Files
from ._org_objects import Folders, Tags
from ._organizations import Organizations
from ._people import Groups, Guests, Users
from ._runs import Runs
from ._search import SearchHit, SearchResults
from ._tasks import Tasks
from ._watchers import Watcher, Watchers

__all__ = [
    "ApplicationMemberToken",
    "Applications",
    "Blueprints",
    "Comments",
    "CustomFieldKey",
    "CustomFieldKeys",
    "Files",
    "Folders",
    "Groups",
    "Guests",
    "Organizations",
    "Runs",
    "SearchHit",
    "SearchResults",
    "Tags",
    "Tasks",
    "Users",
    "Watcher",
    "Watchers",
]

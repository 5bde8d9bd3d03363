"""Resource namespaces (``client.tasks``, ``client.organizations``, ...): one module each."""

from ._applications import ApplicationMemberToken, Applications
from ._automations import Automations
from ._blueprints import Blueprints
from ._captures import Captures
from ._comments import Comments
from ._custom_fields import CustomFieldKey, CustomFieldKeys
from ._files import Files
from ._form_values import FormValues
from ._org_objects import Folders, Tags
from ._organizations import Organizations
from ._people import Groups, Guests, Users
from ._runs import Runs
from ._search import SearchHit, SearchResults
from ._steps import Steps
from ._tag_associations import TagAssociations
from ._tasks import Tasks
from ._watchers import Watcher, Watchers

__all__ = [
    "ApplicationMemberToken",
    "Applications",
    "Automations",
    "Blueprints",
    "Captures",
    "Comments",
    "CustomFieldKey",
    "CustomFieldKeys",
    "Files",
    "Folders",
    "FormValues",
    "Groups",
    "Guests",
    "Organizations",
    "Runs",
    "SearchHit",
    "SearchResults",
    "Steps",
    "TagAssociations",
    "Tags",
    "Tasks",
    "Users",
    "Watcher",
    "Watchers",
]

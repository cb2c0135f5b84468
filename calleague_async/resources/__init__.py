"""Resource groups hung on the session: ``s.calls``, ``s.agents``, ``s.webhooks`` and more.

Each method is thin: validate input, pick the route, send, convert the payload to a model.
"""

from calleague_async.resources.agents import Agents
from calleague_async.resources.calls import Calls
from calleague_async.resources.campaigns import Campaigns
from calleague_async.resources.contacts import Contacts
from calleague_async.resources.webhooks import Webhooks

__all__ = ["Agents", "Calls", "Campaigns", "Contacts", "Webhooks"]

"""Resource groups hung on the session: ``s.calls``, ``s.agents``, ``s.webhooks``.

Each method is thin: validate input, pick the route, send, convert the payload to a model.
"""

from calleague_async.resources.agents import Agents
from calleague_async.resources.calls import Calls
from calleague_async.resources.webhooks import Webhooks

__all__ = ["Agents", "Calls", "Webhooks"]

"""trouper.apps: applications built on trouper's public API (the top layer).

``trouper.apps.chat`` is the demo chat: a web page, rooms with history, Presence, crash
isolation you can see, and a live observer of the supervision tree. Nothing below this
layer imports it.
"""

__all__: list[str] = []

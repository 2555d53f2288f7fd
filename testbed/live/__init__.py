"""The live view: a page that shows a running network (or replays a finished run) and acts on it.

model.py holds what the page shows (pure: snapshot and changes), feed.py batches it once a second for the
streams, actions.py turns a click into the same fault steps a scenario plays, replay.py rebuilds the view
at any time of a finished bundle, server.py serves it all behind a token.
"""

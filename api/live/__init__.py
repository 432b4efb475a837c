"""The live path: events in (POST /events, `portrait ingest`), the feed from stored events to the
membership change log, and the log out to subscriptions (audienceChanges) and webhooks.

Where incremental tags plug in: `api.live.feed.Incremental`, given to `api.app.create_app`.
"""

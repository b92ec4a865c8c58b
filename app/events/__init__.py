"""Stripe's events: the webhook endpoint, the event store, applying events in a worker, reconcile, replay."""

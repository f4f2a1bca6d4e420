"""The online prediction service: the app, its guard and request contract, micro-batching, the scoring process, metrics, deployment."""

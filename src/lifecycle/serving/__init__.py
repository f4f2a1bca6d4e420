"""The online prediction service: the app and its routes, its guard and request contract,
micro-batching, the scoring process, metrics, deployment."""

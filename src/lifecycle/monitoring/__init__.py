"""After launch: monitoring (drift, alerts, performance estimates), simulated traffic and A/B experiments."""

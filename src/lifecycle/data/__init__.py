"""From a source to features: reading tables and sources, collecting, preparing, exploring, events,
features, splits and the problem's definition."""

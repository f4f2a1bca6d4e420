"""From a source to features: reading sources, collecting, preparing, exploring, events, features, splits and the problem's definition."""

"""The built-in simulator: a subscription product's customers, their behaviour and its tables."""

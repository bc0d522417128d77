"""The monitoring data: category register, activity events, screenshots, training-set use."""

"""Choosing, training, evaluating, tuning and testing models; scoring with a registered one."""

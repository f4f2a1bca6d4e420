"""Running the lifecycle: the runner and its scheduler, kernels, the lock file, notebooks, status, report."""

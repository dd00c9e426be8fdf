"""Memory-manager policies, answer agents and generation backends."""

"""Memory bank, operations, retrieval, conversation data and the environments."""

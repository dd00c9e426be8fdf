"""QA metrics, the LLM judge, shaping terms and their composition."""

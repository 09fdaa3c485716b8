"""Every prompt the graph sends to a language model, one module per role."""

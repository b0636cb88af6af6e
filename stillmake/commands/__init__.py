"""Click commands of the `stillmake` CLI, one module per concern."""

"""The review board: a local page over the project for picking, rejecting, locking and
marking edits (`stillmake review`). Every decision goes through `stillmake.decisions`,
so selections.yaml stays the one source of truth."""

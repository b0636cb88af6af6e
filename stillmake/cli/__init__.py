"""The `stillmake` command: a thin click group (main.py) over the library, one module per
command family; shared option and error handling in common.py."""

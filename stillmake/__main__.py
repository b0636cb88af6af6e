from stillmake.cli import cli

cli()

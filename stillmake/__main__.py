from stillmake.cli.main import cli

cli()

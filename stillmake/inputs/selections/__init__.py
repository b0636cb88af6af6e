"""selections.yaml, the art director's decisions: read strictly (read.py), modelled and
checked as the build uses them (model.py), changed by round trip (write.py: import it
from there; the build never writes, so it never loads ruamel)."""

from stillmake.inputs.selections.model import EditStep, Selection, entry_digest, load_selections

__all__ = ["EditStep", "Selection", "entry_digest", "load_selections"]

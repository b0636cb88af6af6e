"""selections.yaml, the art director's decisions: read strictly (read.py), modelled and
checked as the build uses them (model.py), changed by round trip (write.py)."""

from stillmake.inputs.selections.model import EditStep, Selection, entry_digest, load_selections
from stillmake.inputs.selections.write import (
    Author,
    lock_change,
    parse_document,
    pick_change,
    read_document,
    reject_change,
    reroll_change,
    step_change,
    update_selections,
)

__all__ = [
    "Author",
    "EditStep",
    "Selection",
    "entry_digest",
    "load_selections",
    "lock_change",
    "parse_document",
    "pick_change",
    "read_document",
    "reject_change",
    "reroll_change",
    "step_change",
    "update_selections",
]

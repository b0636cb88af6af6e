# stillmake: THE TRACE stills as a reproducible build.
# drafts -> review -> selected -> edits -> finals, one job per shot per pass.


from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version, validate
from stillmake.errors import StillmakeError
from stillmake.inputs.budget import check_budget
from stillmake.inputs.schemas import schema_path

min_version("9.0")


configfile: "config.yaml"


try:  # one line for a budget that is not one, before the schema's longer message
    check_budget(config)
except StillmakeError as exc:
    raise WorkflowError(str(exc)) from None
validate(config, schema_path("config.schema.yaml"))


report: "report/workflow.rst"


include: "rules/common.smk"


onstart:
    start_build()


onsuccess:
    finish_build()


onerror:
    finish_build()


# cheap: run on the host that plans the build, never queued on a cluster
localrules:
    all,
    drafts,
    edits,
    review,
    select,
    selected,
    manifest,
    finals,
    critical,


rule all:
    default_target: True
    input:
        default_targets,


include: "rules/draft.smk"
include: "rules/review.smk"
include: "rules/select.smk"
include: "rules/edit.smk"
include: "rules/final.smk"

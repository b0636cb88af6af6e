# stillmake: THE TRACE stills as a reproducible build.
# drafts -> review -> selected -> edits -> finals, one job per shot per pass.


from snakemake.utils import min_version
from stillmake.paths import CONFIG_FILE

min_version("9.0")


# config.yaml, then --configfile and --config; checked against
# stillmake/data/schemas/config.schema.yaml (defaults filled in) in rules/common.smk
configfile: CONFIG_FILE


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

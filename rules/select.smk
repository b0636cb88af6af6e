# Pass 2: the hand-picked draft per shot, bound to the drafts it was picked from.


rule select:
    input:
        drafts=rules.draft.output.images,
        sidecars=rules.draft.output.sidecars,
        stamp=request_stamp("select"),
    output:
        image="runs/selected/{shot}.png",
        sidecar="runs/selected/{shot}.json",
    log:
        "runs/logs/select/{shot}.log",
    params:
        pick=planned("select", "pick"),
        drafts=planned("select", "drafts"),
        rejects=planned("select", "rejects"),
    run:
        run_job("select", input, output, params, log, wildcards)


rule selected:
    input:
        selected_targets(),

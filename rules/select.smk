# Pass 2: the hand-picked draft per shot, bound to the drafts it was picked from.


rule select:
    input:
        drafts=rules.draft.output.images,
        stamp=request_stamp("select"),
    output:
        image="runs/selected/{shot}.png",
        sidecar="runs/selected/{shot}.json",
    log:
        "runs/logs/select/{shot}.log",
    params:
        # SelectJob: pick, drafts (the fingerprint it was made on), rejects
        job=planned("select"),
    run:
        run_job("select", input, output, params, log, wildcards)


rule selected:
    input:
        selected_targets(),

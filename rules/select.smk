# Pass 2: the hand-picked draft per shot, bound to the drafts it was picked from.


rule select:
    input:
        drafts=drafts_of,
    output:
        image="runs/selected/{shot}.png",
        sidecar="runs/selected/{shot}.json",
    params:
        spec=select_spec,
    log:
        "runs/logs/select/{shot}.log",
    run:
        run_stage("select", input, output, params, log, config, wildcards)


rule selected:
    input:
        selected_targets(),

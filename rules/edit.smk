# Pass 3: consistency edits. One change per step; step j edits step j-1 (step 1: selected).


rule edit_step:
    input:
        unpack(edit_inputs),
    output:
        image="runs/edits/{shot}/step_{step}.png",
        sidecar="runs/edits/{shot}/step_{step}.json",
    log:
        "runs/logs/edit/{shot}_step_{step}.log",
    resources:
        api=1,
    params:
        request=job_param("edit_step", "request"),
        step=job_param("edit_step", "step"),
        context=job_param("edit_step", "context"),
    run:
        run_job("edit", input, output, params, log, config, wildcards)


rule edits:
    input:
        edit_targets(),

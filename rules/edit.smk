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
        # EditJob: request, change, keep, region, mask, markup, refs, character_refs,
        # protect_unmasked, feather_px, refuse_weak, characters, thresholds, negative, lighting
        job=planned("edit_step"),
    run:
        run_job("edit_step", input, output, params, log, wildcards)


rule edits:
    input:
        edit_targets(),

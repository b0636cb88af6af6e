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
        request=planned("edit_step", "request"),
        change=planned("edit_step", "change"),
        keep=planned("edit_step", "keep"),
        region=planned("edit_step", "region"),
        mask=planned("edit_step", "mask"),
        markup=planned("edit_step", "markup"),
        refs=planned("edit_step", "refs"),
        character_refs=planned("edit_step", "character_refs"),
        protect_unmasked=planned("edit_step", "protect_unmasked"),
        feather_px=planned("edit_step", "feather_px"),
        refuse_weak=planned("edit_step", "refuse_weak"),
        characters=planned("edit_step", "characters"),
        thresholds=planned("edit_step", "thresholds"),
        negative=planned("edit_step", "negative"),
        lighting=planned("edit_step", "lighting"),
    run:
        run_job("edit_step", input, output, params, log, wildcards)


rule edits:
    input:
        edit_targets(),

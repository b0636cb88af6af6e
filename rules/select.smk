# Pass 2: the hand-picked draft per shot, bound to the drafts it was picked from.


rule select:
    input:
        drafts=rules.draft.output.images,
        # the sheet exists before a pick is applied; the pick's gate verdict comes from it
        review=rules.review_sheet.output.json,
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

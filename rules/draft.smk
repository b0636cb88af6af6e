# Pass 1: composition search. One images.generate call (n drafts) per shot.


rule draft:
    input:
        stamp=request_stamp("draft"),
    output:
        images=expand("runs/drafts/{{shot}}/draft_{k}.png", k=DRAFT_K),
        sidecars=expand("runs/drafts/{{shot}}/draft_{k}.json", k=DRAFT_K),
    log:
        "runs/logs/draft/{shot}.log",
    resources:
        api=1,
    params:
        # DraftJob: request (model, prompt, n, size, quality, reroll, backend), negative, lighting
        job=planned("draft"),
    run:
        run_job("draft", input, output, params, log, wildcards)


rule drafts:
    input:
        expand(PATTERNS["draft"], shot=SHOTS, k=DRAFT_K),

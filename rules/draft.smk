# Pass 1: composition search. One images.generate call (n drafts) per shot.


rule draft:
    output:
        images=expand("runs/drafts/{{shot}}/draft_{k}.png", k=DRAFT_K),
        sidecars=expand("runs/drafts/{{shot}}/draft_{k}.json", k=DRAFT_K),
    log:
        "runs/logs/draft/{shot}.log",
    resources:
        api=1,
    params:
        request=draft_request,
        context=job_context("draft"),
    run:
        run_stage("draft", input, output, params, log, config, wildcards)


rule drafts:
    input:
        expand(rules.draft.output.images, shot=SHOTS),

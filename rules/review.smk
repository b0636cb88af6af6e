# Contact sheet + quality metrics per shot (pixels, and identity against the shot's
# character references), from that shot's drafts only; with the opt-in critique, a
# vision model's verdicts on each draft (an API call: api=1).


rule review_sheet:
    input:
        drafts=rules.draft.output.images,
        sidecars=rules.draft.output.sidecars,
        stamp=request_stamp("review_sheet"),
        refs=review_refs,
    output:
        sheet=report(
            "runs/review/{shot}.png",
            caption="../report/review.rst",
            category="1. Review",
            subcategory="{shot}",
            labels={"shot": "{shot}", "file": "contact sheet"},
        ),
        json="runs/review/{shot}.json",
    log:
        "runs/logs/review/{shot}.log",
    resources:
        api=1 if BUILD.critique_active else 0,
    params:
        context=job_param("review_sheet", "context"),
    run:
        run_job("review", input, output, params, log, config, wildcards)


rule review:
    input:
        review_targets(),

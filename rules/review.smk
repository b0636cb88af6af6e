# Contact sheet + quality metrics per shot, from that shot's drafts only.


rule review_sheet:
    input:
        drafts=rules.draft.output.images,
        refs=review_refs,
        stamp=request_stamp("review_sheet"),
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
    params:
        context=job_param("review_sheet", "context"),
    run:
        run_job("review", input, output, params, log, config, wildcards)


rule review:
    input:
        review_targets(),

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
        api=1 if CONFIG.critique_active else 0,
    params:
        title=planned("review_sheet", "title"),
        lighting=planned("review_sheet", "lighting"),
        thresholds=planned("review_sheet", "thresholds"),
        characters=planned("review_sheet", "characters"),
        pick=planned("review_sheet", "pick"),
        critique=planned("review_sheet", "critique"),
    run:
        run_job("review_sheet", input, output, params, log, wildcards)


rule review:
    input:
        review_targets(),

# Contact sheet + quality metrics per shot (pixels, and identity against the shot's
# character references), from that shot's drafts only; with the opt-in critique, a
# vision model's verdicts on each draft (an API call: api=1).


rule review_sheet:
    input:
        drafts=rules.draft.output.images,
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
        # ReviewJob: title, lighting, thresholds, characters, pick, critique
        job=planned("review_sheet"),
    run:
        run_job("review_sheet", input, output, params, log, wildcards)


rule review:
    input:
        review_targets(),

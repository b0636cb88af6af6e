"""The build's console on Snakemake's events as plain data (the hook itself, and the
whole of it on a real build, are tested in test_snakemake_internals.py and
test_main_job.py)."""

from __future__ import annotations

from stillmake.views.console import BuildConsole, job_key


def brief() -> BuildConsole:
    return BuildConsole(brief=True, stages={"draft": "draft"}, header=lambda: ["budget line"])


def announce(console: BuildConsole, jobid: int, shot: str) -> bool:
    fields = {"jobid": jobid, "rule_name": "draft", "wildcards": {"shot": shot}}
    return console.keep("job_info", fields)


def test_a_job_is_one_line_when_it_ends_with_the_builds_and_its_pass_progress():
    console = brief()
    assert console.render("run_info", {"stats": {"draft": 2, "all": 1, "total": 3}}, "") == (
        "stillmake: 2 job(s) to run: draft 2\nbudget line"
    )
    assert not announce(console, 7, "s1") and not announce(console, 8, "s2")  # no block
    line = {"stillmake_job": job_key("draft", {"shot": "s1"}), "stillmake_result": True}
    assert console.render(None, {**line, "stillmake_text": "s1 draft: 3 image(s)"}, "") == ""
    assert (
        console.render("job_finished", {"job_id": 7}, "")
        == "[1/2 · draft 1/2] s1 draft: 3 image(s)"
    )
    warned = {**line, "stillmake_result": False, "stillmake_text": "s1: careful"}
    assert console.render(None, warned, "") == "stillmake: warning: s1: careful"
    for event, text in (
        ("progress", ""),
        ("job_started", "Execute 1 jobs..."),
        (None, "Select jobs to execute..."),
    ):
        assert console.render(event, {}, text) == ""
    assert console.render(None, {}, "Elapsed time: 0:00:01") is None  # Snakemake's own


def test_a_failure_is_one_line_and_named_in_the_shots_outcome():
    console = brief()
    announce(console, 1, "s1")
    announce(console, 2, "s2")
    said = console.refusal("s1 draft failed: over budget", job_key("draft", {"shot": "s1"}))
    assert said == "stillmake: error: s1 draft failed: over budget"
    assert console.render("job_error", {"jobid": 1, "log": ["runs/logs/draft/s1.log"]}, "") == ""
    crashed = console.render("job_error", {"jobid": 2, "log": ["runs/logs/draft/s2.log"]}, "")
    assert crashed == "stillmake: error: s2 draft failed; its log: runs/logs/draft/s2.log"
    assert console.failures() == {
        "s1": "s1 draft failed: over budget",
        "s2": "s2 draft failed; its log: runs/logs/draft/s2.log",
    }
    ends = "Exiting because a job execution failed. Look above for error messages"
    assert console.render(None, {}, ends) == "stillmake: error: 2 job(s) failed (said above)"
    assert console.render(None, {}, "At least one job did not complete successfully.") == ""


def test_with_console_snakemake_everything_is_snakemakes_but_a_refusal():
    console = BuildConsole(stages={"draft": "draft"})
    assert announce(console, 1, "s1")  # the job's block is printed
    line = {"stillmake_job": job_key("draft", {"shot": "s1"}), "stillmake_result": True}
    for event, fields in (("job_finished", {"job_id": 1}), (None, line), ("progress", {})):
        assert console.render(event, fields, "") is None
    assert console.refusal("x", None) == "stillmake: error: x"

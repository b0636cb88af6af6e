"""One module per pass; each exposes run(job) and is called from a rule via jobs.run_stage."""

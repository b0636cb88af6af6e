"""The planner: from config + prompts + selections to each job's typed request (build.py,
jobs.py), the checks made before any job (preflight.py) and the request stamps that
rebuild exactly the jobs whose request changed (stamps.py)."""

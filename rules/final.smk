# Pass 4: finals for locked shots: n=1, high quality, one size; the manifest logs them all.


rule final:
    input:
        unpack(final_inputs),
    output:
        image=report(
            "runs/final/{shot}.png",
            caption="../report/final.rst",
            category="2. Finals",
            subcategory="{shot}",
            labels={"shot": "{shot}", "file": "final"},
        ),
        sidecar="runs/final/{shot}.json",
    log:
        "runs/logs/final/{shot}.log",
    resources:
        api=1,
    params:
        # FinalJob: request (mode edit: the candidate's), mode, pick, steps, title, refs,
        # negative, lighting; the approval: locked, approved, trust, waive
        job=planned("final"),
    run:
        run_job("final", input, output, params, log, wildcards)


rule manifest:
    input:
        finals=final_targets(BUILD.final_shots),
        refs=BUILD.existing_refs(*BUILD.final_shots),
        stamp=request_stamp("manifest"),
    output:
        csv=report(
            "runs/final/manifest.csv",
            caption="../report/manifest.rst",
            category="3. Manifest",
            labels={"file": "manifest"},
        ),
        json="runs/final/manifest.json",
        gate=report(
            "runs/final/gate.json",
            caption="../report/gate.rst",
            category="3. Manifest",
            labels={"file": "quality gate"},
        ),
    log:
        "runs/logs/final/manifest.log",
    params:
        # ManifestJob: size, thresholds, shots, characters
        job=planned("manifest"),
    run:
        run_job("manifest", input, output, params, log, wildcards)


rule finals:
    input:
        lambda wildcards: require_locked(SHOTS, "finals"),


rule critical:
    input:
        lambda wildcards: require_locked(config["critical"], "critical"),

# Pass 4: finals for locked shots: n=1, high quality, one size; the manifest logs them all.


rule final:
    input:
        unpack(final_inputs),
    output:
        image="runs/final/{shot}.png",
        sidecar="runs/final/{shot}.json",
    params:
        request=final_request,
        spec=final_spec,
        context=job_context("final"),
    log:
        "runs/logs/final/{shot}.log",
    resources:
        api=1,
    run:
        run_stage("final", input, output, params, log, config, wildcards)


rule manifest:
    input:
        finals=final_targets(BUILD.locked_shots),
    output:
        csv="runs/final/manifest.csv",
        json="runs/final/manifest.json",
    params:
        size=config["final"]["size"],
        shots=BUILD.locked_shots,
    log:
        "runs/logs/final/manifest.log",
    run:
        run_stage("manifest", input, output, params, log, config, wildcards)


rule finals:
    input:
        lambda wildcards: require_locked(SHOTS, "finals"),


rule critical:
    input:
        lambda wildcards: require_locked(config["critical"], "critical"),

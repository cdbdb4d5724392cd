"""Internal: import from `unip_kfp` (its `__all__` is the public API).

Run pipelines on Kubeflow Pipelines through `kfp.Client`: submit, wait, fetch, upload.

The public face of this package is `unip_kfp` (`Project.submit`/`upload`/`schedule`/`runs`,
`unip_kfp.run`, `unip_kfp.attach`, `RunHandle`, `Upload`, ...):

    project = unip_kfp.load("examples/train-test/manifests")
    handle = project.submit(host="http://localhost:8080", inputs={
        "xy_train": "./data/xy_train.csv", "xy_test": "./data/xy_test.csv"})
    handle.wait()                                   # per-stage progress; raises on failure
    handle.outputs({"testing_results": "./results"})

Modules, by responsibility: `connection` (host, namespace, auth, probe), `server_errors`
(what an error answer means), `submission` (inputs, experiment, run), `progress` (waiting),
`stages` (stage states among the Argo nodes a run reports), `pods` (Argo pod names),
`handle` (`RunHandle`), `versions` (upload), `storage` (box transfers), `artifacts` (where a
run's outputs are). After submission: `logs`/`logsources` (stage logs), `history` (runs by
id, run history), `cron`/`schedules`/`schedule_steps` (schedules with apply semantics),
`prune`, and `operate` (their Python API).
What is submitted is prepared by `unip_kfp.launch.prepared`; S3 access is `unip_kfp.s3`.
kfp is imported only when a function needs it.
"""

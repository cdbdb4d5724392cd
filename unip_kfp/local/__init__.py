"""Internal: import from `unip_kfp` (its `__all__` is the public API).

Run a compiled pipeline package on this machine: no cluster, no Docker (SPEC §6).

The very package that would be uploaded to Kubeflow is what runs: its DAG is walked in
dependency order (condition branches, `dsl.OneOf`, importers, pipeline outputs), its
placeholders are resolved as the 2.17 backend resolves them, and each stage's container
command (the wrapper, `sh`, the stage's own command) runs as a host process in the module
folder, the way its pod would: its own view of its inputs, its pod's environment, its
outputs as the launcher uploads them. Modules by responsibility:

- `package_reader`: read the IR into protobufs, refuse what cannot run here
- `cel`: the condition evaluator for `dsl.If`/`Else` sub-DAGs
- `placeholders`: command-line placeholders and parameter serialisation
- `expansion`: the kubelet's `$(NAME)`/`$$` rule and a pod's environment
- `data`: URIs to local data (box folders, `file://`, S3 downloads)
- `arguments`, `destinations`: `-i` and `-o` for a run
- `sandbox`, `skeleton`: each stage's private views of its inputs, literal `path:` targets
- `records`, `realpaths`: the wrapper's targets; `--real-paths`, checked and put back
- `stage`: one container task as its pod would run it
- `upload`: an output as the KFP 2.17 launcher uploads it
- `process`: stage processes, logs, signals
- `dag`: the walk
- `summary`, `result`: what the run reports
- `runner`: `run_local`, tying it together
"""

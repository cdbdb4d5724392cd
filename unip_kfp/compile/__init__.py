"""Internal: import from `unip_kfp` (its `__all__` is the public API).

Step 4 of the flow: the plan becomes a KFP pipeline, and the pipeline a package (IR YAML).

`stage_wrapper` is the POSIX-sh wrapper every stage container runs, `components` builds one
container component per stage, `pipeline` assembles the `dsl.pipeline`, `ui_graph` checks
what the Kubeflow UI will draw, and `package` compiles and writes the package.
"""

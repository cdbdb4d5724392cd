"""Internal: import from `unip_kfp` (its `__all__` is the public API).

Step 3 of the flow: the plan, plain frozen data that says what the pipeline will be.

`model` holds the data (variables, stages, boxes), `build` makes it from checked manifests,
`description` writes the pipeline's guide for the Kubeflow UI, and `launcher_credentials`
works out which box credentials KFP's launcher must hold.
"""

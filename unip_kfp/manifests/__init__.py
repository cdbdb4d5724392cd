"""Internal: import from `unip_kfp` (its `__all__` is the public API).

Step 1 of the flow: read the UNIP manifests and `unip-kfp.yaml` into typed models.

`yaml_source` keeps a line for every field, `models` are the platform's documents as pydantic
models, `loader` finds and reads manifest files, `project_config` reads `unip-kfp.yaml`,
and `json_schemas` exports the same models as JSON Schemas for editors. Nothing here refuses
a manifest: problems are collected as `Issue`s for `checks`.
"""

"""Internal: import from `unip_kfp` (its `__all__` is the public API).

Step 5 of the flow: what every run starts from, whether it runs here or on Kubeflow.

`prepared` turns a package (compiled from a project, or read from a file) into one prepared
run; `arguments` is the one rule for `-i NAME=VALUE` and `-o NAME=DEST`.
"""

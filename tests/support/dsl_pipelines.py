"""Pipelines written with the kfp DSL, to run through the local runner in tests.

No `from __future__ import annotations` here: kfp reads the annotations as types.
"""

from kfp import dsl


@dsl.container_component
def say(word: str, out: dsl.Output[dsl.Artifact]):
    return dsl.ContainerSpec(
        image="alpine",
        command=["sh", "-c", 'mkdir -p "$1" && printf %s "$0" > "$1/word"'],
        args=[word, out.path],
    )


@dsl.container_component
def args(out: dsl.Output[dsl.Artifact], note: str = None):
    return dsl.ContainerSpec(
        image="alpine",
        command=["sh", "-c", 'mkdir -p "$0" && printf "%s|" "$@" > "$0/args"'],
        args=[
            out.path,
            dsl.IfPresentPlaceholder(input_name="note", then=["--note", note], else_=["-"]),
            dsl.ConcatPlaceholder(["task=", "{{$.pipeline_task_name}}"]),
        ],
    )


@dsl.pipeline(name="branches")
def branches(n: int, label: str = "small", note: str = None) -> dsl.Artifact:
    """If/Elif/Else on an int, a OneOf pipeline output, IfPresent and Concat placeholders."""
    with dsl.If(n > 3):
        big = say(word="big")
    with dsl.Elif(n == 3):
        three = say(word="three")
    with dsl.Else():
        other = say(word=label)
    args(note=note)
    return dsl.OneOf(big.outputs["out"], three.outputs["out"], other.outputs["out"])


@dsl.pipeline(name="loop")
def loop():
    """A ParallelFor, which the local runner refuses."""
    with dsl.ParallelFor(["a", "b"]) as item:
        say(word=item)

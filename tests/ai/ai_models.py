"""Small random models for the solvers' tests."""

from cnc6g.ai.profiles import KINDS, ProfileTable, from_table


def table(
    flops,
    out_bytes,
    extra_inputs=None,
    loop=None,
    decode_steps=0,
    input_bytes=150_000,
    result_bytes=4_000,
):
    """A ModelProfile of len(flops) blocks: each reads the one before and, where
    ``extra_inputs[i]`` is an index below ``i - 1`` (or -1: the input), that one too;
    ``loop`` (first, last) marks a decode loop."""
    n = len(flops)
    names = [f"b{i}" for i in range(n)]
    blocks = []
    for i in range(n):
        inputs = ["input" if i == 0 else names[i - 1]]
        extra = None if extra_inputs is None else extra_inputs[i]
        if extra is not None and extra < i - 1:
            src = "input" if extra < 0 else names[extra]
            if src not in inputs:
                inputs.append(src)
        in_loop = loop is not None and loop[0] <= i <= loop[1]
        blocks.append(
            {
                "name": names[i],
                "kind": KINDS[i % 5],
                "inputs": inputs,
                "loop": in_loop,
                "flops": int(flops[i]),
                "decode_flops": int(flops[i] // 50) if in_loop else 0,
                "params": 1000 * (i + 1),
                "param_bytes": 4000 * (i + 1),
                "out_bytes": int(out_bytes[i]),
                "decode_out_bytes": int(out_bytes[i] // 20) if in_loop else 0,
                "kv_bytes_per_token": 64 if in_loop else 0,
            }
        )
    data = {
        "format": 1,
        "name": "synthetic",
        "title": "synthetic",
        "family": "cnn",
        "source": "tests",
        "input": "random",
        "input_bytes": input_bytes,
        "result_bytes": result_bytes,
        "dtype": "float32",
        "prompt_tokens": 8 if loop else 0,
        "decode_steps": decode_steps if loop else 0,
        "decode_context": 8 + decode_steps // 2 if loop else 0,
        "config": {},
        "published": {},
        "generated_by": {"command": "tests"},
        "totals": {},
        "blocks": blocks,
    }
    return from_table(ProfileTable.model_validate(data, strict=False))

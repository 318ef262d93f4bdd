# Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
"""Tests of the PyTorch op ``torch.ops.moe_router.route`` (moe_router_op.py).

    cd examples/pytorch && python3 -m pytest -q test_moe_router_op.py

The op is compared with ``torch_route`` below, a plain PyTorch statement of the routing
contract (sigmoid / softmax / sqrt(softplus) scores, + bias, groups scored by
``view(G).topk(2).sum`` or ``max``, ``topk(TG)`` groups, masked ``topk(K)``, ``gather``,
renormalize, scale, shared slot, expert map, padding), on random inputs. Rows whose choice is
a near tie (two candidates, or two groups, within 1e-5 relative at the cut) are left out, since
two correct fp32 computations may order them differently; the rest must give the same set of
ids and weights within 1e-6 relative. Every test skips without PyTorch or without a CUDA device.
"""

import json
import os
import sys

import pytest

torch = pytest.importorskip("torch")
if not torch.cuda.is_available():
    pytest.skip("no CUDA device", allow_module_level=True)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import moe_router_op  # noqa: E402


@pytest.fixture(scope="module")
def ops():
    return moe_router_op.load()


# ---- the contract in plain PyTorch -----------------------------------------------------------

def scores(x, scoring_func):
    if scoring_func == "sigmoid":
        return torch.sigmoid(x)
    if scoring_func == "softmax":
        return torch.softmax(x, dim=-1)
    return torch.nn.functional.softplus(x).sqrt()  # softplus is x itself above 20, as the contract says


def torch_route(logits, bias, topk, num_expert_group=1, topk_group=1, renormalize=True,
                routed_scaling_factor=1.0, scale_output=False, num_fused_shared_experts=0,
                expert_map=None, num_valid_tokens=None, scoring_func="sigmoid",
                group_score="top2_sum", ids_dtype=torch.int32):
    """The routing contract in plain PyTorch, fp32 throughout."""
    T, E = logits.shape
    G = max(num_expert_group, 1)
    s = scores(logits.float(), scoring_func)
    b = s + bias.float() if bias is not None else s
    if G > 1:
        grouped = b.view(T, G, E // G)
        if group_score == "top2_sum":
            group_scores = grouped.topk(2, dim=-1).values.sum(dim=-1)
        else:
            group_scores = grouped.max(dim=-1).values
        kept = group_scores.topk(topk_group, dim=-1).indices
        group_mask = torch.zeros_like(group_scores, dtype=torch.bool).scatter_(1, kept, True)
        b = b.masked_fill(~group_mask.repeat_interleave(E // G, dim=1), float("-inf"))
    ids = b.topk(topk, dim=-1).indices
    w = s.gather(1, ids)
    if renormalize:
        total = w.sum(dim=-1, keepdim=True)
        w = w / torch.where(total == 0, torch.ones_like(total), total)
    if scale_output:
        w = w * routed_scaling_factor
    if expert_map is not None:
        ids = expert_map.long()[ids]
    if num_fused_shared_experts > 0:
        shared_id = E + torch.arange(T, device=logits.device) % num_fused_shared_experts
        ids = torch.cat([ids, shared_id[:, None]], dim=1)
        w = torch.cat([w, w.sum(dim=-1, keepdim=True) / routed_scaling_factor], dim=1)
    ids = ids.to(ids_dtype)
    if num_valid_tokens is not None:
        padding = torch.arange(T, device=logits.device) >= num_valid_tokens.long().reshape(())
        ids = ids.masked_fill(padding[:, None], -1)
        w = w.masked_fill(padding[:, None], 0.0)
    return w, ids


def clear_rows(logits, bias, topk, num_expert_group, topk_group, scoring_func, group_score,
               margin=1e-5):
    """Rows without a near tie at the cuts (computed in float64): the K-th and (K+1)-th choice
    scores among the kept groups, and the TG-th and (TG+1)-th group scores."""
    T, E = logits.shape
    G = max(num_expert_group, 1)
    b = scores(logits.double(), scoring_func)
    if bias is not None:
        b = b + bias.double()
    ok = torch.ones(T, dtype=torch.bool, device=logits.device)

    def separated(a, c):
        return (a - c) > margin * torch.maximum(a.abs(), c.abs()).clamp_min(1e-30)

    if G > 1:
        grouped = b.view(T, G, E // G)
        group_scores = (grouped.topk(2, dim=-1).values.sum(dim=-1) if group_score == "top2_sum"
                        else grouped.max(dim=-1).values)
        ranked = group_scores.sort(dim=-1, descending=True).values
        if topk_group < G:
            ok &= separated(ranked[:, topk_group - 1], ranked[:, topk_group])
        kept = group_scores.topk(topk_group, dim=-1).indices
        group_mask = torch.zeros_like(group_scores, dtype=torch.bool).scatter_(1, kept, True)
        b = b.masked_fill(~group_mask.repeat_interleave(E // G, dim=1), float("-inf"))
    ranked = b.sort(dim=-1, descending=True).values
    if topk < E:
        ok &= separated(ranked[:, topk - 1], ranked[:, topk])
    return ok


def sorted_by_id(weights, ids, topk):
    """The routed slots of each row sorted by id (the shared slot left where it is)."""
    order = ids[:, :topk].long().sort(dim=-1).indices
    w = torch.cat([weights[:, :topk].gather(1, order), weights[:, topk:]], dim=1)
    i = torch.cat([ids[:, :topk].gather(1, order), ids[:, topk:]], dim=1)
    return w, i


# ---- shapes and options ------------------------------------------------------------------------

# name, E, G, TG, K, scoring, group score, bias?, options
SHAPES = {
    "deepseek_v3": dict(E=256, G=8, TG=4, K=8, scoring_func="sigmoid", group_score="top2_sum", bias=True,
                        options=dict(renormalize=True, scale_output=True, routed_scaling_factor=2.5,
                                     num_fused_shared_experts=1)),
    "kimi_k2": dict(E=384, G=1, TG=1, K=8, scoring_func="sigmoid", group_score="top2_sum", bias=True,
                    options=dict(renormalize=True, routed_scaling_factor=2.827)),
    "qwen3_softmax": dict(E=128, G=1, TG=1, K=8, scoring_func="softmax", group_score="top2_sum", bias=False,
                          options=dict(renormalize=True)),
    "mixtral": dict(E=8, G=1, TG=1, K=2, scoring_func="softmax", group_score="top2_sum", bias=False,
                    options=dict(renormalize=True)),
    "deepseek_v2": dict(E=160, G=8, TG=3, K=6, scoring_func="softmax", group_score="max", bias=False,
                        options=dict(renormalize=False, scale_output=True, routed_scaling_factor=16.0)),
    "deepseek_v4_flash": dict(E=256, G=1, TG=1, K=6, scoring_func="sqrtsoftplus", group_score="top2_sum",
                              bias=True, options=dict(renormalize=True, scale_output=True,
                                                      routed_scaling_factor=1.5)),
    "uncompiled_96": dict(E=96, G=1, TG=1, K=4, scoring_func="softmax", group_score="top2_sum", bias=False,
                          options=dict(renormalize=True, num_fused_shared_experts=2)),
}

DTYPES = [torch.float32, torch.bfloat16, torch.float16]


def make_inputs(shape, T, logits_dtype, bias_dtype=torch.float32, seed=0, row_padding=0):
    g = torch.Generator(device="cuda").manual_seed(seed)
    E = shape["E"]
    storage = 2.0 * torch.randn(T, E + row_padding, generator=g, device="cuda")
    logits = storage.to(logits_dtype)[:, :E]  # strided rows when row_padding > 0
    bias = None
    if shape["bias"]:
        bias = (0.05 * torch.randn(E, generator=g, device="cuda")).to(bias_dtype)
    return logits, bias


def route_args(shape, **overrides):
    args = dict(topk=shape["K"], num_expert_group=shape["G"], topk_group=shape["TG"],
                scoring_func=shape["scoring_func"], group_score=shape["group_score"])
    args.update(shape["options"])
    args.update(overrides)
    return args


def check_against_torch(logits, bias, args, weights, ids, min_clear=0.8):
    ref_w, ref_ids = torch_route(logits, bias, **args)
    assert weights.shape == ref_w.shape and ids.shape == ref_ids.shape
    assert ids.dtype == ref_ids.dtype and weights.dtype == torch.float32
    ok = clear_rows(logits, bias, args["topk"], args.get("num_expert_group", 1), args.get("topk_group", 1),
                    args.get("scoring_func", "sigmoid"), args.get("group_score", "top2_sum"))
    if args.get("num_valid_tokens") is not None:
        ok |= torch.arange(logits.shape[0], device=logits.device) >= args["num_valid_tokens"].long().reshape(())
    assert ok.float().mean().item() >= min_clear, "too many near-tie rows for the test to mean anything"
    w, i = sorted_by_id(weights[ok], ids[ok], args["topk"])
    rw, ri = sorted_by_id(ref_w[ok], ref_ids[ok], args["topk"])
    torch.testing.assert_close(i, ri, rtol=0, atol=0)
    torch.testing.assert_close(w, rw, rtol=1e-6, atol=1e-12)


# ---- tests ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("logits_dtype", DTYPES, ids=lambda d: str(d).replace("torch.", ""))
@pytest.mark.parametrize("name", list(SHAPES))
def test_matches_plain_pytorch(ops, name, logits_dtype):
    shape = SHAPES[name]
    logits, bias = make_inputs(shape, 2048, logits_dtype, seed=list(SHAPES).index(name))
    args = route_args(shape)
    weights, ids = ops.route(logits, bias, args["topk"], args["num_expert_group"], args["topk_group"],
                             args.get("renormalize", True), float(args.get("routed_scaling_factor", 1.0)),
                             args.get("scale_output", False), args.get("num_fused_shared_experts", 0), None,
                             None, args["scoring_func"], args["group_score"], None, "auto")
    check_against_torch(logits, bias, args, weights, ids)


@pytest.mark.parametrize("bias_dtype", [torch.float32, torch.bfloat16], ids=["bias_f32", "bias_bf16"])
@pytest.mark.parametrize("ids_dtype", [torch.int32, torch.int64], ids=["i32", "i64"])
@pytest.mark.parametrize("logits_dtype", [torch.float32, torch.bfloat16], ids=["f32", "bf16"])
def test_options_and_element_types(ops, logits_dtype, ids_dtype, bias_dtype):
    """DeepSeek-V3 with strided rows, an expert map, padding rows and every id / bias type."""
    shape = SHAPES["deepseek_v3"]
    T = 1000
    logits, bias = make_inputs(shape, T, logits_dtype, bias_dtype, seed=7, row_padding=64)
    assert logits.stride(0) == 256 + 64
    expert_map = (torch.randperm(256, device="cuda") + 1000).to(torch.int32)
    num_valid = torch.tensor([T - 37], dtype=torch.int32, device="cuda")
    args = route_args(shape, expert_map=expert_map, num_valid_tokens=num_valid, ids_dtype=ids_dtype)
    weights, ids = moe_router_op.route(logits, bias, **args)
    check_against_torch(logits, bias, args, weights, ids)
    assert (ids[T - 37:] == -1).all() and (weights[T - 37:] == 0).all()


@pytest.mark.parametrize("logits_dtype", [torch.float32, torch.bfloat16], ids=["f32", "bf16"])
def test_fused_and_reference_kernels_agree_bit_for_bit(ops, logits_dtype):
    shape = SHAPES["deepseek_v3"]
    logits, bias = make_inputs(shape, 4096, logits_dtype, seed=3)
    args = route_args(shape)
    assert ops.is_compiled(logits, bias, args["topk"], args["num_expert_group"], args["topk_group"],
                           args["scoring_func"], args["group_score"], None)
    fused = moe_router_op.route(logits, bias, path="fused", **args)
    reference = moe_router_op.route(logits, bias, path="reference", **args)
    assert torch.equal(fused[1], reference[1])
    assert torch.equal(fused[0].view(torch.int32), reference[0].view(torch.int32))


def kernel_grids(trace_path):
    """The grids of the routing kernels in a chrome trace of torch.profiler."""
    with open(trace_path) as f:
        events = json.load(f)["traceEvents"]
    return [tuple(e["args"]["grid"]) for e in events
            if e.get("cat") == "kernel" and "route_kernel" in e.get("name", "") and "grid" in e.get("args", {})]


@pytest.mark.parametrize("max_blocks", [1, 3])
@pytest.mark.parametrize("T", [257, 8192])
def test_max_blocks_holds_the_grid_and_routes_the_same_bits(ops, T, max_blocks, tmp_path):
    """A grid of at most max_blocks blocks (the warp kernel at 257 tokens, the tiled kernel at
    8192) routes every row to the same bits as the launcher's grid; the profiler sees the grid."""
    shape = SHAPES["deepseek_v3"]
    logits, bias = make_inputs(shape, T, torch.float32, seed=11)
    args = route_args(shape, num_fused_shared_experts=13)
    expected = moe_router_op.route(logits, bias, path="fused", **args)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as profile:
        held = moe_router_op.route(logits, bias, path="fused", max_blocks=max_blocks, **args)
        torch.cuda.synchronize()
    profile.export_chrome_trace(str(tmp_path / "trace.json"))
    assert kernel_grids(tmp_path / "trace.json") == [(max_blocks, 1, 1)]
    assert torch.equal(held[1], expected[1])
    assert torch.equal(held[0].view(torch.int32), expected[0].view(torch.int32))
    check_against_torch(logits, bias, args, *held)


@pytest.mark.parametrize("T", [512, 8192])
@pytest.mark.parametrize("logits_dtype", [torch.float32, torch.bfloat16], ids=["f32", "bf16"])
@pytest.mark.parametrize("name", ["deepseek_v3", "kimi_k2"])
def test_sigmoid_is_zero_where_pytorch_gives_zero(ops, name, logits_dtype, T):
    """At and below -88.72283935546875 exp(-x) overflows in fp32, and torch.sigmoid gives 0: so
    must the op, on the warp kernel (512 tokens) and the tiled kernel with screened scores (8192).
    Every logit of a row but one lies there (with fp32 logits column 0 is the threshold itself
    and column 2 the float below it), and the bias alone decides the choice; column 1 lies just
    above, where the score is a denormal, and its bias of 1 puts it in every row's top-K. Its
    renormalized weight is then its score over itself, 1 (times the scaling factor with
    scale_output), and every other routed weight 0. (Before the op followed the fp32 formula
    there, it gave exp(x) down through the denormals, and the weights spread over the K slots.)"""
    shape = SHAPES[name]
    E = shape["E"]
    g = torch.Generator(device="cuda").manual_seed(11)
    threshold = torch.tensor(-88.72283935546875, dtype=torch.float32)
    logits = (-89.0 - 15.0 * torch.rand(T, E, generator=g, device="cuda")).to(logits_dtype)
    if logits_dtype == torch.float32:
        logits[:, 0] = threshold
        logits[:, 1] = torch.nextafter(threshold, torch.tensor(0.0))
        logits[:, 2] = torch.nextafter(threshold, torch.tensor(-float("inf")))
    else:
        logits[:, 1] = -88.5  # the bf16 next to the threshold, above it
    bias = 0.05 * torch.randn(E, generator=g, device="cuda")
    bias[1] = 1.0
    s = torch.sigmoid(logits.float())
    assert (s[:, 1] > 0).all() and (s[:, 1] < torch.finfo(torch.float32).tiny).all()
    assert (s[:, 0] == 0).all() and (s[:, 2:] == 0).all()
    args = route_args(shape)
    weights, ids = moe_router_op.route(logits, bias, **args)
    check_against_torch(logits, bias, args, weights, ids, min_clear=1.0)
    K = args["topk"]
    chosen = ids[:, :K] == 1
    assert (chosen.sum(dim=1) == 1).all()
    assert (weights[:, :K][~chosen] == 0).all()
    factor = args["routed_scaling_factor"] if args.get("scale_output", False) else 1.0
    assert (weights[:, :K][chosen] == factor).all()
    if args.get("num_fused_shared_experts", 0) > 0:
        assert (weights[:, K] == 1.0).all()  # the routed sum over the factor
    reference = moe_router_op.route(logits, bias, path="reference", **args)
    assert torch.equal(ids, reference[1]) and torch.equal(weights.view(torch.int32), reference[0].view(torch.int32))


def test_errors_are_raised_with_the_reason(ops):
    logits, _ = make_inputs(SHAPES["uncompiled_96"], 16, torch.float32)
    with pytest.raises(RuntimeError, match="compiled"):
        moe_router_op.route(logits, topk=4, scoring_func="softmax", path="fused")
    with pytest.raises(RuntimeError, match="topk"):
        moe_router_op.route(logits, topk=97, scoring_func="softmax")
    with pytest.raises(RuntimeError, match="scoring_func"):
        moe_router_op.route(logits, topk=4, scoring_func="tanh")
    with pytest.raises(RuntimeError, match="logits must be a CUDA tensor"):
        moe_router_op.route(logits.cpu(), topk=4, scoring_func="softmax")
    # (checks whose message holds an integer: these crashed the process before)
    with pytest.raises(RuntimeError, match="topk must be >= 1"):
        moe_router_op.route(logits, topk=0, scoring_func="softmax")
    with pytest.raises(RuntimeError, match="logits must be 2-D"):
        moe_router_op.route(logits.view(2, 8, -1), topk=4, scoring_func="softmax")
    shape = SHAPES["deepseek_v3"]
    logits, bias = make_inputs(shape, 16, torch.float32)
    args = route_args(shape)
    with pytest.raises(RuntimeError, match="bias must be 1-D"):
        moe_router_op.route(logits, bias.view(1, -1), **args)
    with pytest.raises(RuntimeError, match="expert_map must be 1-D"):
        identity = torch.arange(shape["E"], dtype=torch.int32, device="cuda").view(-1, 1)
        moe_router_op.route(logits, bias, expert_map=identity, **args)


def test_bad_arguments_are_refused_before_the_outputs_are_allocated(ops):
    """The reason, not an out-of-memory error: [16, 2**31 - 1] outputs would need 128 GiB each
    (more than an H200 holds for the two)."""
    shape = SHAPES["deepseek_v3"]
    logits, bias = make_inputs(shape, 16, torch.float32)
    args = dict(route_args(shape), num_fused_shared_experts=1)
    args["topk"] = 2**31 - 2
    with pytest.raises(RuntimeError, match="topk") as refused:
        moe_router_op.route(logits, bias, **args)
    assert "out of memory" not in str(refused.value)


def test_integer_arguments_past_int32_are_named(ops):
    """An int64 argument is never narrowed into a valid int32 one, and the message names it."""
    shape = SHAPES["deepseek_v3"]
    logits, bias = make_inputs(shape, 16, torch.float32)
    args = route_args(shape)
    with pytest.raises(RuntimeError, match="topk is too large"):
        moe_router_op.route(logits, bias, **dict(args, topk=2**32 + 8))
    with pytest.raises(RuntimeError, match="num_fused_shared_experts is too large"):
        moe_router_op.route(logits, bias, **dict(args, num_fused_shared_experts=2**31))
    with pytest.raises(RuntimeError, match="num_expert_group must be 0 or 1"):
        moe_router_op.route(logits, bias, **dict(args, num_expert_group=2**32 + 8))
    # A negative group count is refused, not read as "no groups".
    with pytest.raises(RuntimeError, match="num_expert_group must be 0 or 1"):
        moe_router_op.route(logits, bias, **dict(args, num_expert_group=-8))
    with pytest.raises(RuntimeError, match="max_blocks must be 0"):
        moe_router_op.route(logits, bias, **dict(args, max_blocks=-1))
    with pytest.raises(RuntimeError, match="max_blocks is too large"):
        moe_router_op.route(logits, bias, **dict(args, max_blocks=2**31))
    # is_compiled refuses the arguments no call can take, as route does (topk 2**32 + 8 is
    # not DeepSeek-V3's 8, whatever its low 32 bits).
    call = [args["num_expert_group"], args["topk_group"], "sigmoid", "top2_sum"]
    with pytest.raises(RuntimeError, match="topk is too large"):
        ops.is_compiled(logits, bias, 2**32 + 8, *call, None)
    with pytest.raises(RuntimeError, match="ids_dtype"):
        ops.is_compiled(logits, bias, args["topk"], *call, torch.float32)
    with pytest.raises(RuntimeError, match="logits must be 2-D"):
        ops.is_compiled(logits.view(2, 8, -1), bias, args["topk"], *call, None)
    assert ops.is_compiled(logits, bias, args["topk"], *call, None)


def test_is_compiled_reads_only_shapes_and_types(ops):
    """is_compiled does no GPU work: it answers the same for CUDA, CPU and meta tensors."""
    shape = SHAPES["deepseek_v3"]
    args = route_args(shape)
    calls = [((args["topk"], args["num_expert_group"], args["topk_group"], "sigmoid", "top2_sum", None), True),
             ((4, 1, 1, "softmax", "top2_sum", None), False)]
    for device in ("cuda", "cpu", "meta"):
        logits = torch.empty(3, shape["E"], device=device)
        bias = torch.empty(shape["E"], device=device)
        for call, expected in calls:
            assert ops.is_compiled(logits, bias, *call) is expected, (device, call)


def test_empty_batch(ops):
    logits = torch.empty(0, 256, device="cuda")
    weights, ids = moe_router_op.route(logits, topk=8, num_expert_group=8, topk_group=4,
                                       num_fused_shared_experts=1)
    assert weights.shape == (0, 9) and ids.shape == (0, 9)


def test_cuda_graph_replay_with_a_changing_token_count(ops):
    """Capture once with a device-side num_valid_tokens, replay with new counts and new logits."""
    shape = SHAPES["deepseek_v3"]
    T = 256
    static_logits, bias = make_inputs(shape, T, torch.bfloat16, seed=11)
    static_logits = static_logits.clone()
    num_valid = torch.tensor([T], dtype=torch.int32, device="cuda")
    args = route_args(shape, num_valid_tokens=num_valid)

    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):  # warm up outside the capture
        for _ in range(2):
            moe_router_op.route(static_logits, bias, **args)
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        static_weights, static_ids = moe_router_op.route(static_logits, bias, **args)

    for step, count in enumerate([T, 17, 0, 1, 200]):
        fresh, _ = make_inputs(shape, T, torch.bfloat16, seed=100 + step)
        static_logits.copy_(fresh)
        num_valid.fill_(count)
        graph.replay()
        torch.cuda.synchronize()
        eager_weights, eager_ids = moe_router_op.route(static_logits, bias, **route_args(shape))
        assert torch.equal(static_ids[:count], eager_ids[:count])
        assert torch.equal(static_weights[:count].view(torch.int32), eager_weights[:count].view(torch.int32))
        assert (static_ids[count:] == -1).all() and (static_weights[count:] == 0).all()


@pytest.mark.parametrize("T", [1, 300, 20000])
def test_programmatic_dependent_launch_waits_for_the_gemm_before_it(ops, T):
    """With PDL the op may start while the router GEMM before it on the stream runs, and must
    still read that GEMM's logits: each round's logits are new, so a read before the GEMM is
    done would route old or half-written ones. Eagerly and in a captured CUDA graph."""
    shape = SHAPES["deepseek_v3"]
    g = torch.Generator(device="cuda").manual_seed(T)
    weight = torch.randn(shape["E"], 1024, generator=g, device="cuda") / 16
    _, bias = make_inputs(shape, 1, torch.float32, seed=T)
    args = route_args(shape)
    for step in range(4):
        logits = torch.randn(T, 1024, generator=g, device="cuda") @ weight.t()
        early = moe_router_op.route(logits, bias, programmatic_dependent_launch=True, **args)
        plain = moe_router_op.route(logits, bias, **args)
        assert torch.equal(early[1], plain[1]), step
        assert torch.equal(early[0].view(torch.int32), plain[0].view(torch.int32)), step

    static_hidden = torch.randn(T, 1024, generator=g, device="cuda")
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):  # warm up outside the capture
        for _ in range(2):
            moe_router_op.route(static_hidden @ weight.t(), bias, programmatic_dependent_launch=True, **args)
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        static_logits = static_hidden @ weight.t()
        static_weights, static_ids = moe_router_op.route(static_logits, bias, programmatic_dependent_launch=True,
                                                         **args)
    for step in range(3):
        static_hidden.copy_(torch.randn(T, 1024, generator=g, device="cuda"))
        graph.replay()
        plain_weights, plain_ids = moe_router_op.route(static_logits, bias, **args)
        assert torch.equal(static_ids, plain_ids), step
        assert torch.equal(static_weights.view(torch.int32), plain_weights.view(torch.int32)), step


def test_torch_compile_traces_the_op(ops):
    shape = SHAPES["deepseek_v3"]
    logits, bias = make_inputs(shape, 64, torch.bfloat16, seed=5)
    args = route_args(shape)

    def moe_gate(x, b):
        weights, ids = torch.ops.moe_router.route(
            x, b, args["topk"], args["num_expert_group"], args["topk_group"], True, 2.5, True, 1, None, None,
            "sigmoid", "top2_sum", None, "auto")
        return weights * 2.0, ids

    compiled = torch.compile(moe_gate, fullgraph=True, dynamic=True, backend="aot_eager")
    expected = moe_gate(logits, bias)
    for T in (64, 33):
        got = compiled(logits[:T], bias)
        assert torch.equal(got[1], expected[1][:T]) and torch.equal(got[0], expected[0][:T])
    torch.library.opcheck(torch.ops.moe_router.route.default,
                          (logits, bias, 8, 8, 4, True, 2.5, True, 1, None, None, "sigmoid", "top2_sum", None,
                           "auto"),
                          test_utils=("test_schema", "test_faketensor"))


def _time_us(fn, iters=200):
    """Median time of fn() in microseconds (triton's do_bench when present, else CUDA events)."""
    try:
        from triton.testing import do_bench
        return 1e3 * do_bench(fn, warmup=25, rep=100, return_mode="median")
    except ImportError:
        for _ in range(10):
            fn()
        times = []
        for _ in range(iters):
            start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            stop.record()
            stop.synchronize()
            times.append(start.elapsed_time(stop))
        times.sort()
        return 1e3 * times[len(times) // 2]


def test_timing_against_plain_pytorch(ops, capsys):
    """Prints op vs plain-PyTorch time for DeepSeek-V3 (no assertion on time)."""
    shape = SHAPES["deepseek_v3"]
    args = route_args(shape)
    lines = [f"{'tokens':>8} {'logits':>6} {'moe_router us':>14} {'plain PyTorch us':>17} {'speed-up':>9}"]
    for T in (1, 64, 4096, 65536):
        for dtype in (torch.float32, torch.bfloat16):
            logits, bias = make_inputs(shape, T, dtype, seed=T)
            op_us = _time_us(lambda: moe_router_op.route(logits, bias, **args))
            torch_us = _time_us(lambda: torch_route(logits, bias, **args))
            lines.append(f"{T:>8} {str(dtype).replace('torch.', ''):>6} {op_us:>14.1f} {torch_us:>17.1f} "
                         f"{torch_us / op_us:>8.1f}x")
    with capsys.disabled():
        print(f"\nDeepSeek-V3 routing on {torch.cuda.get_device_name()} (op includes its launch and allocation):")
        print("\n".join(lines))

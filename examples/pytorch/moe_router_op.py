# Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
"""moe_router as a PyTorch custom op: ``torch.ops.moe_router.route``.

``load()`` JIT-builds ``moe_router_op.cu`` with ``torch.utils.cpp_extension.load`` (once per
machine; later calls reuse the build in torch's extension cache), registers the op's fake
implementation for ``torch.compile``, and returns ``torch.ops.moe_router``. ``route()`` below
is a keyword-friendly wrapper with the op's defaults.

The op::

    moe_router::route(Tensor logits, Tensor? bias, int topk, int num_expert_group=1,
                      int topk_group=1, bool renormalize=True, float routed_scaling_factor=1.0,
                      bool scale_output=False, int num_fused_shared_experts=0,
                      Tensor? expert_map=None, Tensor? num_valid_tokens=None,
                      str scoring_func="sigmoid", str group_score="top2_sum",
                      ScalarType? ids_dtype=None, str path="auto",
                      bool programmatic_dependent_launch=False, int max_blocks=0)
        -> (Tensor weights, Tensor ids)

- ``logits`` [T, E] float32, bfloat16 or float16 on a CUDA device; rows may be strided
  (``logits.stride(0) > E``), columns must be contiguous (else a contiguous copy is made).
- ``bias`` [E] float32 or bfloat16, the score correction bias (``e_score_correction_bias``);
  added to the scores only to choose the experts.
- ``topk``: the routed experts K (not counting a fused shared slot).
- ``num_expert_group`` G (0 or 1: no groups), ``topk_group`` TG, ``group_score``: "top2_sum"
  (DeepSeek-V3's noaux_tc) or "max" (DeepSeek-V2).
- ``renormalize``: divide the routed weights by their sum; ``scale_output``: multiply them by
  ``routed_scaling_factor``.
- ``num_fused_shared_experts`` NS: when > 0, one more slot per row holds a shared expert, id
  ``E + t % NS``, weight ``sum(routed weights) / routed_scaling_factor``.
- ``expert_map`` [E] int32: logical to physical expert id (EPLB); the shared slot is not mapped.
- ``num_valid_tokens`` one-element int32 tensor on the device: rows at or past it get id -1 and
  weight 0 (read on the device, so a captured CUDA graph can replay with a new count).
- ``scoring_func``: "sigmoid", "softmax" or "sqrtsoftplus".
- ``ids_dtype``: torch.int32 (default) or torch.int64.
- ``path``: "auto" (the fused kernel when compiled, else the reference kernel), "fused" (an
  error if this shape is not compiled) or "reference".
- ``programmatic_dependent_launch``: on Hopper, launch the fused kernel with programmatic
  dependent launch, so that it may start while the kernel before it on the stream (the router
  GEMM) finishes; it waits for that kernel before it reads anything
  ([docs/integration.md](../../docs/integration.md#programmatic-dependent-launch-pdl)).
- ``max_blocks``: when > 0, the fused kernel's grid has at most this many blocks, leaving SMs
  to kernels that run beside it (every row is still routed; 0: as many as the card holds).
- returns ``weights`` [T, K+S] float32 and ``ids`` [T, K+S], S = 1 if NS > 0 else 0.

``torch.ops.moe_router.is_compiled(logits, bias, topk, num_expert_group, topk_group,
scoring_func, group_score, ids_dtype)`` says whether "auto" runs the fused kernel for a call. It
raises, as ``route`` does, on arguments no call can take: logits that are not 2-D, an integer
argument out of its int32 range or of the wrong sign, a ``topk_group`` outside
[1, num_expert_group], an unknown ``scoring_func``, ``group_score`` or ``ids_dtype``. A shape the
library refuses later (``topk`` above the kept experts, groups that do not divide the experts)
is "not compiled": False.
"""

import os
import pathlib

import torch

_HERE = pathlib.Path(__file__).resolve().parent
_INCLUDE = _HERE.parent.parent / "include"
_ops = None


def _arch_flags():
    """nvcc flags for the current device: sm_90a on Hopper (the library's target), else the
    device's own architecture. MOE_ROUTER_CUDA_ARCH (e.g. "90a") overrides."""
    arch = os.environ.get("MOE_ROUTER_CUDA_ARCH")
    if not arch:
        major, minor = torch.cuda.get_device_capability()
        arch = f"{major}{minor}" + ("a" if (major, minor) == (9, 0) else "")
    return [f"-gencode=arch=compute_{arch},code=sm_{arch}"]


def load(verbose=False):
    """Build (first time) and load the op; returns ``torch.ops.moe_router``."""
    global _ops
    if _ops is not None:
        return _ops
    from torch.utils.cpp_extension import load as load_extension

    load_extension(
        name="moe_router_torch",
        sources=[str(_HERE / "moe_router_op.cu")],
        extra_include_paths=[str(_INCLUDE)],
        extra_cflags=["-O3"],
        extra_cuda_cflags=["-O3", *_arch_flags()],
        is_python_module=False,
        verbose=verbose,
    )

    @torch.library.register_fake("moe_router::route")
    def _route_fake(logits, bias, topk, num_expert_group=1, topk_group=1, renormalize=True,
                    routed_scaling_factor=1.0, scale_output=False, num_fused_shared_experts=0,
                    expert_map=None, num_valid_tokens=None, scoring_func="sigmoid",
                    group_score="top2_sum", ids_dtype=None, path="auto",
                    programmatic_dependent_launch=False, max_blocks=0):
        torch._check(logits.dim() == 2, lambda: "logits must be 2-D [num_tokens, num_experts]")
        slots = topk + (1 if num_fused_shared_experts > 0 else 0)
        num_tokens = logits.shape[0]
        weights = logits.new_empty((num_tokens, slots), dtype=torch.float32)
        ids = logits.new_empty((num_tokens, slots), dtype=ids_dtype or torch.int32)
        return weights, ids

    _ops = torch.ops.moe_router
    return _ops


def route(logits, bias=None, *, topk, num_expert_group=1, topk_group=1, renormalize=True,
          routed_scaling_factor=1.0, scale_output=False, num_fused_shared_experts=0,
          expert_map=None, num_valid_tokens=None, scoring_func="sigmoid", group_score="top2_sum",
          ids_dtype=None, path="auto", programmatic_dependent_launch=False, max_blocks=0):
    """``torch.ops.moe_router.route`` with keyword arguments; see the module's docstring."""
    ops = load()
    return ops.route(logits, bias, topk, num_expert_group, topk_group, renormalize,
                     float(routed_scaling_factor), scale_output, num_fused_shared_experts,
                     expert_map, num_valid_tokens, scoring_func, group_score, ids_dtype, path,
                     programmatic_dependent_launch, max_blocks)

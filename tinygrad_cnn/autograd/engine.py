"""The backward graph walk: topological order by an explicit stack, gradients summed per tensor."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from tinygrad_cnn import backend
from tinygrad_cnn.autograd.grad_mode import set_grad_enabled
from tinygrad_cnn.autograd.hooks import run_grad_hooks
from tinygrad_cnn.cuda import arith as cuda_arith

_queued = threading.local()  # .stack: one list of callbacks per backward pass running here


def queue_callback(callback) -> None:
    """Run ``callback()`` once the backward pass now running in this thread has finished
    (PyTorch's ``Variable._execution_engine.queue_callback``). Only valid inside a backward
    function; DistributedDataParallel averages gradients there."""
    stack = getattr(_queued, "stack", None)
    if not stack:
        raise RuntimeError("queue_callback: only a backward function may queue a callback")
    stack[-1].append(callback)


def topological_order(roots: Sequence) -> list:
    """Nodes reachable from ``roots``, each after every node it consumes (iterative DFS)."""
    order, visited = [], set()
    stack = [(node, False) for node in roots]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        for tensor in node.inputs:
            if tensor is not None and tensor._node is not None and id(tensor._node) not in visited:
                stack.append((tensor._node, False))
    return order


def _accumulate(current, new, create_graph: bool):
    if current is None:
        return new
    if create_graph:
        return current + new
    from tinygrad_cnn.tensor import Tensor

    a, b = current.data, new.data
    xp = backend.array_module(a, b)
    return Tensor._from_array(cuda_arith.add(xp, a, b) if cuda_arith.usable(xp, a, b) else a + b)


def _as_grad_tensor(grad, like, node, index):
    """Check one gradient returned by ``node.backward`` and return it as a Tensor like ``like``
    (an input Tensor, or the function's edge standing for one: shape, dtype, device)."""
    from tinygrad_cnn.tensor import Tensor

    if isinstance(like, Tensor):
        shape, dtype, array_type = like.data.shape, like.data.dtype, type(like.data)
    else:  # the function's edge standing for the input
        shape, dtype, array_type = like.shape, like.dtype, like.array_type
    if not isinstance(grad, Tensor):  # an array (either device) or a number
        if type(grad) is not array_type:  # a number, or an array of the other device: copied
            grad = backend.xp_for_device(like.device).asarray(grad)
        grad = Tensor._from_array(grad)
    if grad.data.shape != shape:
        raise RuntimeError(
            f"{type(node).__name__}.backward returned a gradient of shape {grad.shape} for "
            f"input {index}, whose shape is {tuple(shape)}"
        )
    if type(grad.data) is not array_type and grad.device != like.device:
        raise RuntimeError(
            f"{type(node).__name__}.backward returned a gradient on {grad.device} for input "
            f"{index}, which lives on {like.device}"
        )
    if grad.data.dtype != dtype:
        grad = grad.astype(dtype)
    return grad


def run_backward(roots, root_grads, *, retain_graph=False, create_graph=False, inputs=None):
    """Propagate ``root_grads`` from ``roots`` back through the graph, then run the callbacks
    that its backward functions queued (``queue_callback``)."""
    if not hasattr(_queued, "stack"):
        _queued.stack = []
    _queued.stack.append([])
    try:
        result = _walk_backward(roots, root_grads, retain_graph=retain_graph,
                                create_graph=create_graph, inputs=inputs)
        callbacks = _queued.stack[-1]
    finally:
        _queued.stack.pop()
    for callback in callbacks:
        callback()
    return result


def _walk_backward(roots, root_grads, *, retain_graph=False, create_graph=False, inputs=None):
    """Propagate ``root_grads`` from ``roots`` back through the graph.

    With ``inputs=None`` (``Tensor.backward``), gradients accumulate into ``.grad`` of the leaves
    that require grad. Otherwise (``tc.grad``) nothing is written to ``.grad`` and the gradients
    of ``inputs`` are returned in order (None for an input the outputs do not depend on).
    """
    wanted_leaves = {}  # id(leaf tensor) -> gradient, for tc.grad
    wanted_nodes = {}  # id(node) -> gradient of its output, for tc.grad on non-leaf tensors
    if inputs is not None:
        for t in inputs:
            (wanted_nodes if t._node is not None else wanted_leaves)[
                id(t._node) if t._node is not None else id(t)
            ] = None

    from tinygrad_cnn.tensor import Tensor

    # ids of arrays that someone besides one leaf's .grad may hold: the caller's gradients, and
    # every array already given to a .grad
    handed_out = {id(g.data) for g in root_grads}

    def owned_copy(array):
        """``array`` itself when nothing else can see it, else a copy: .grad must own its memory
        (optimizers update it in place), but backward may hand out a read-only broadcast view,
        a view of the caller's gradient, or the same array to two leaves (a + b)."""
        shared = (
            getattr(array, "base", None) is not None
            or not getattr(array.flags, "writeable", True)
            or id(array) in handed_out
        )
        if shared:
            array = array.copy()
        handed_out.add(id(array))
        return array

    def deliver_to_leaf(leaf, grad):
        if inputs is not None:
            if id(leaf) in wanted_leaves:
                wanted_leaves[id(leaf)] = _accumulate(wanted_leaves[id(leaf)], grad, create_graph)
            return
        if create_graph:
            leaf.grad = grad if leaf.grad is None else _accumulate(leaf.grad, grad, True)
        elif leaf.grad is None:
            leaf.grad = Tensor._from_array(owned_copy(grad.data))
        else:
            leaf.grad = _accumulate(leaf.grad, grad, False)  # a new array

    hooked_leaves = {}  # id(leaf) -> [leaf, gradient so far]: hooks see the sum, once

    def to_leaf(leaf, grad):
        if getattr(leaf, "_grad_hooks", None):
            pending = hooked_leaves.setdefault(id(leaf), [leaf, None])
            pending[1] = _accumulate(pending[1], grad, create_graph)
        else:
            deliver_to_leaf(leaf, grad)

    node_grads = {}  # id(node) -> accumulated gradient of that node's output
    nodes = []
    for tensor, grad in zip(roots, root_grads, strict=False):
        if tensor._node is None:
            if tensor.requires_grad:
                to_leaf(tensor, grad)
            continue
        key = id(tensor._node)
        node_grads[key] = _accumulate(node_grads.get(key), grad, create_graph)
        nodes.append(tensor._node)

    with set_grad_enabled(create_graph):
        for node in reversed(topological_order(nodes)):
            grad_out = node_grads.pop(id(node), None)
            if grad_out is None:
                continue
            if node._freed:
                raise RuntimeError(
                    f"{type(node).__name__}: trying to backward through the graph a second "
                    "time, but it was freed after the first backward; call "
                    "backward(retain_graph=True) the first time if you need to backward twice"
                )
            if node._grad_hooks:
                grad_out = run_grad_hooks(node._grad_hooks, grad_out)
            if id(node) in wanted_nodes:
                wanted_nodes[id(node)] = grad_out
            retained = node._retained_output_ref() if node._retained_output_ref else None
            if retained is not None:
                retained.grad = _accumulate(retained.grad, grad_out.detach(), False)
                handed_out.add(id(retained.grad.data))
            grads = node.backward(node, grad_out)
            if not isinstance(grads, tuple):
                grads = (grads,)
            if len(grads) > len(node.inputs) or any(
                node.inputs[i] is not None for i in range(len(grads), len(node.inputs))
            ):
                raise RuntimeError(
                    f"{type(node).__name__}.backward returned {len(grads)} gradients but forward "
                    f"took {len(node.inputs)} inputs; return one per input (None where there is "
                    "none)"
                )
            for index, (tensor, grad) in enumerate(zip(node.inputs, grads, strict=False)):
                if tensor is None or grad is None or not tensor.requires_grad:
                    continue
                grad = _as_grad_tensor(grad, tensor, node, index)
                if tensor._node is None:
                    to_leaf(tensor, grad)
                else:
                    key = id(tensor._node)
                    node_grads[key] = _accumulate(node_grads.get(key), grad, create_graph)
            if not retain_graph:
                # done with it: its saved values (the output too: a node keeps its own saved
                # output, see Function.apply) go now, so activations are freed as the walk
                # passes them, as in PyTorch
                node._free()
        for leaf, grad in hooked_leaves.values():
            deliver_to_leaf(leaf, run_grad_hooks(leaf._grad_hooks, grad))

    if inputs is None:
        return None
    return [
        wanted_nodes[id(t._node)] if t._node is not None else wanted_leaves[id(t)] for t in inputs
    ]

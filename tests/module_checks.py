"""Gradient checks of whole Modules: ``check_module`` runs gradcheck with respect to the input
and every parameter of a layer (float64), through ``functional_call``."""

import tinygrad_cnn as tc


def functional_call(module, params, *args):
    """Run ``module`` with its parameters replaced by the given tensors (test-only: bypasses
    Module.__setattr__ so gradients flow to the tensors gradcheck perturbs)."""
    saved = []
    for name, value in params.items():
        *path, attr = name.split(".")
        owner = module
        for part in path:
            owner = owner[int(part)] if part.isdigit() else getattr(owner, part)
        saved.append((owner, attr, getattr(owner, attr)))
        object.__setattr__(owner, attr, value)
    try:
        return module(*args)
    finally:
        for owner, attr, value in saved:
            object.__setattr__(owner, attr, value)


def check_module(module, x, fast_mode=False, atol=1e-5):
    """gradcheck of module(x) with respect to x and every parameter (float64)."""
    module.double()
    names = [n for n, _ in module.named_parameters()]
    arrays = [p.numpy().copy() for _, p in module.named_parameters()]

    def fn(x, *ps):
        return functional_call(module, dict(zip(names, ps, strict=False)), x)

    return tc.gradcheck(fn, (x, *arrays), fast_mode=fast_mode, atol=atol, seed=0)

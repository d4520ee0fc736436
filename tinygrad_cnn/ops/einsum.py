"""einsum: sums of products named by subscripts ("ij,jk->ik", "bij,bjk->bik", "ii->i",
"...ij->...ji").

The equation is first normalised: "..." becomes fresh letters (right-aligned across operands, as
NumPy broadcasts them), a letter repeated within one operand takes that operand's diagonal
(``tc.diagonal``, so its gradient lands on the diagonal), and an implicit output ("ij,jk") is the
ellipsis letters then the letters seen once, sorted. What is left has every letter once per
operand: one ``Einsum`` node runs NumPy's/CuPy's einsum (``optimize=True``: BLAS contractions),
and the gradient of operand k is again an einsum, of the output's gradient with the other
operands onto k's letters, expanded over the letters only k has. Size-1 dims that broadcast are
expanded before the node (``tc.expand``, which sums their gradient back). Written in Tensor ops,
so einsum is twice differentiable.
"""

from __future__ import annotations

import string

from tinygrad_cnn import backend
from tinygrad_cnn.autograd.function import Function
from tinygrad_cnn.ops import shape as shape_ops
from tinygrad_cnn.ops import shape_extra
from tinygrad_cnn.tensor import Tensor

_LETTERS = string.ascii_letters


class Einsum(Function):
    """y = einsum(equation, *operands), every letter once per operand (see the module's
    docstring); each operand's gradient an einsum of the output's gradient with the others."""

    @staticmethod
    def forward(ctx, *arrays, inputs, output):
        ctx.subscripts, ctx.output = inputs, output
        ctx.save_for_backward(*arrays)
        equation = ",".join(inputs) + "->" + output
        return ctx.xp.einsum(equation, *arrays, optimize=len(arrays) > 1)

    @staticmethod
    def backward(ctx, grad):
        operands = ctx.saved_tensors
        grads = []
        for k, (x, letters) in enumerate(zip(operands, ctx.subscripts, strict=True)):
            if not ctx.needs_input_grad[k]:
                grads.append(None)
                continue
            others = [(o, s) for i, (o, s) in enumerate(zip(operands, ctx.subscripts,
                                                              strict=True)) if i != k]
            seen = set(ctx.output).union(*(s for _, s in others))
            kept = "".join(c for c in letters if c in seen)
            g = _einsum([grad, *(o for o, _ in others)], [ctx.output, *(s for _, s in others)],
                        kept)
            grads.append(_to_operand(g, kept, letters, x.shape))
        return tuple(grads)


def _to_operand(g: Tensor, kept: str, letters: str, shape) -> Tensor:
    """``g`` (letters ``kept``) as the gradient of an operand of ``letters`` and ``shape``: the
    letters only that operand has come back as broadcast dims (their sum's gradient)."""
    for i, c in enumerate(letters):
        if c not in kept:
            g = shape_ops.unsqueeze(g, i)
    return shape_ops.expand(g, tuple(shape))


def _einsum(operands, inputs, output) -> Tensor:
    if len(operands) == 1 and inputs[0] == output:
        return operands[0]
    return Einsum.apply(*operands, inputs=tuple(inputs), output=output)


def einsum(equation: str, *operands) -> Tensor:
    """Sum of products over the subscripts of ``equation`` (PyTorch's and NumPy's einsum):
    ``einsum("ij,jk->ik", a, b)`` is ``a @ b``, ``"bij,bjk->bik"`` batched, ``"ii->i"`` the
    diagonal, ``"ij->"`` the sum, ``"...ij->...ji"`` a transpose over leading dims. Without
    "->" the output is the letters seen once, sorted. Operands may also come as one list."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    if not isinstance(equation, str):
        raise TypeError(f"einsum: equation must be a string, got {type(equation).__name__}")
    if not operands:
        raise ValueError("einsum: expected at least one operand")
    for i, x in enumerate(operands):
        if not isinstance(x, Tensor):
            raise TypeError(f"einsum: operand {i} must be a Tensor, got {type(x).__name__}")
    inputs, output = _parse(equation, [x.shape for x in operands])
    operands = list(operands)
    for i, letters in enumerate(inputs):
        operands[i], inputs[i] = _unique_letters(operands[i], letters)
    sizes = {}
    for i, (x, letters) in enumerate(zip(operands, inputs, strict=True)):
        for c, n in zip(letters, x.shape, strict=True):
            if sizes.get(c, 1) not in (1, n) and n != 1:
                raise backend.ShapeError(
                    f"einsum {equation!r}: subscript {c!r} has size {n} in operand {i} "
                    f"(shape {x.shape}) but {sizes[c]} elsewhere")
            sizes[c] = max(sizes.get(c, 1), n)
    for i, (x, letters) in enumerate(zip(operands, inputs, strict=True)):
        full = tuple(sizes[c] for c in letters)
        if x.shape != full:  # size-1 dims broadcast (their gradient summed back by expand)
            operands[i] = shape_ops.expand(x, full)
    dtypes = {x.dtype for x in operands}
    if len(dtypes) > 1:
        raise TypeError(f"einsum {equation!r}: operands of one dtype expected, got "
                        f"{sorted(str(d) for d in dtypes)} (as PyTorch; convert with .to())")
    return _einsum(operands, inputs, output)


def _parse(equation: str, shapes) -> tuple[list[str], str]:
    """(subscripts of each operand, output subscripts), "..." replaced by fresh letters."""
    text = equation.replace(" ", "")
    lhs, arrow, rhs = text.partition("->")
    inputs = lhs.split(",")
    if len(inputs) != len(shapes):
        raise ValueError(f"einsum {equation!r}: {len(inputs)} operand subscripts for "
                         f"{len(shapes)} operands")
    used = set(text) - set(".,->")
    bad = sorted(c for c in used if c not in _LETTERS)
    if bad:
        raise ValueError(f"einsum {equation!r}: subscripts must be letters a-z, A-Z; got "
                         f"{''.join(bad)!r}")
    fresh = [c for c in _LETTERS if c not in used]
    ellipsis_dims = 0
    for letters, shape in zip(inputs, shapes, strict=True):
        named = len(letters.replace("...", ""))
        if letters.count("...") > 1 or letters.replace("...", "").count(".") \
                or ("..." not in letters and named != len(shape)) \
                or ("..." in letters and named > len(shape)):
            raise backend.ShapeError(f"einsum {equation!r}: subscripts {letters!r} do not fit "
                                     f"an operand of shape {tuple(shape)}")
        if "..." in letters:
            ellipsis_dims = max(ellipsis_dims, len(shape) - named)
    broadcast = "".join(fresh[:ellipsis_dims])
    inputs = [s.replace("...", broadcast[ellipsis_dims - (len(shape) - len(s) + 3):])
              if "..." in s else s for s, shape in zip(inputs, shapes, strict=True)]
    if arrow:
        if rhs.count("...") > 1 or rhs.replace("...", "").count("."):
            raise ValueError(f"einsum {equation!r}: bad output subscripts {rhs!r}")
        output = rhs.replace("...", broadcast)
        missing = sorted(set(output) - set("".join(inputs)))
        if missing or len(set(output)) != len(output):
            raise ValueError(f"einsum {equation!r}: output subscripts {rhs!r} must name letters "
                             "of the operands, each once")
    else:
        counts = {c: "".join(inputs).count(c) for c in set("".join(inputs)) - set(broadcast)}
        output = broadcast + "".join(sorted(c for c, n in counts.items() if n == 1))
    return inputs, output


def _unique_letters(x: Tensor, letters: str) -> tuple[Tensor, str]:
    """``x`` and its subscripts with each repeated letter replaced by the diagonal of its dims
    (the diagonal's dim last, as ``tc.diagonal`` puts it)."""
    while len(set(letters)) != len(letters):
        c = next(c for c in letters if letters.count(c) > 1)
        first = letters.index(c)
        second = letters.index(c, first + 1)
        if x.shape[first] != x.shape[second]:
            raise backend.ShapeError(f"einsum: subscript {c!r} repeated in one operand names dims "
                                     f"of sizes {x.shape[first]} and {x.shape[second]} "
                                     f"(shape {x.shape}); a diagonal needs them equal")
        x = shape_extra.diagonal(x, 0, first, second)
        letters = letters[:first] + letters[first + 1:second] + letters[second + 1:] + c
    return x, letters

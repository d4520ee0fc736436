"""Fused optimizer updates: one kernel launch per parameter per step.

The generic update rules in ``tinygrad_cnn/optim`` are written with array operations, some ten
kernel launches per parameter on the GPU (plus a temporary for each). Each kernel here does one
parameter's whole update element by element, with the same operations in the same order as the
generic rule, so float32 results agree with it to the last bit where the compiler does (on the
CPU host runner they do; on a GPU, NVRTC may contract ``a * b + c`` into one fused multiply-add,
which differs by an ulp).

Conventions shared by the launchers: ``p`` (the parameter), ``g`` (its gradient, never written)
and the state buffers are arrays of one shape and dtype, C-contiguous; flags are passed as ints
(0/1); a buffer a rule does not use is passed as another array of the right size and never
touched. Python floats reach the kernel as ``T``, so ``lr * g`` rounds as NumPy's
``lr * g`` does on a float32 array.
"""

from __future__ import annotations

import math

from .kernel import FLOAT_CHARS, Kernel


def fusable(p, g, *state) -> bool:
    """True when ``p``, ``g`` and the state arrays can go to one fused kernel: float32 or
    float64, one dtype and shape, parameter and state C-contiguous (``g`` is made contiguous by
    :func:`contiguous` if needed)."""
    if p.dtype.char not in FLOAT_CHARS or g.dtype != p.dtype or g.shape != p.shape:
        return False
    return p.flags.c_contiguous and all(
        s.dtype == p.dtype and s.shape == p.shape and s.flags.c_contiguous for s in state)


def contiguous(xp, g):
    """``g`` itself when C-contiguous, else a C-contiguous copy (a gradient may be a view)."""
    return g if g.flags.c_contiguous else xp.ascontiguousarray(g)


SGD_KERNEL = Kernel("tc_sgd_step", r"""
// torch.optim.SGD for one parameter, as SGD._update (g = gradient, negated when maximizing):
//   g = g + weight_decay * p; b = g (first step) or momentum * b + (1 - dampening) * g;
//   g = g + momentum * b (nesterov) or b; p = p - lr * g
extern "C" __global__ void tc_sgd_step(
        T* p, const T* grad, T* buf, T lr, T momentum, T one_minus_dampening,
        T weight_decay, long long has_weight_decay, long long has_momentum,
        long long dampened, long long nesterov, long long first, long long maximize,
        long long n) {
    TC_GRID_STRIDE(i, n) {
        T g = maximize ? -grad[i] : grad[i];
        if (has_weight_decay) g = g + weight_decay * p[i];
        if (has_momentum) {
            T b;
            if (first) {
                b = g;
            } else {
                b = buf[i] * momentum;
                b = b + (dampened ? one_minus_dampening * g : g);
            }
            buf[i] = b;
            g = nesterov ? g + momentum * b : b;
        }
        p[i] = p[i] - lr * g;
    }
}
""")


def sgd_step(p, g, buf, *, lr, momentum, dampening, weight_decay, nesterov, maximize,
             first) -> None:
    """One SGD step of ``p`` in place; ``buf`` is the momentum buffer (written; pass ``p`` when
    momentum is 0), ``first`` whether this step creates it."""
    SGD_KERNEL(p.dtype, p.size, p, g, buf, lr, momentum, 1 - dampening, weight_decay,
               int(weight_decay != 0), int(momentum != 0), int(dampening != 0), int(nesterov),
               int(first), int(maximize), p.size)


ADAM_KERNEL = Kernel("tc_adam_step", r"""
// torch.optim.Adam / AdamW for one parameter, as Adam._update:
//   p = p * (1 - lr * wd) (AdamW) or g = g + wd * p (Adam);
//   m = m + (g - m) * (1 - beta1); v = v * beta2 + (g * g) * (1 - beta2);
//   v_max = max(v_max, v) and v = v_max (amsgrad);
//   p = p - (m / (sqrt(v) / sqrt(1 - beta2**t) + eps)) * lr / (1 - beta1**t)
extern "C" __global__ void tc_adam_step(
        T* p, const T* grad, T* exp_avg, T* exp_avg_sq, T* max_exp_avg_sq,
        T one_minus_beta1, T beta2, T one_minus_beta2, T eps, T weight_decay, T decay,
        T bias_correction2_sqrt, T step_size, long long coupled_decay,
        long long decoupled_decay, long long amsgrad, long long maximize, long long n) {
    TC_GRID_STRIDE(i, n) {
        T g = maximize ? -grad[i] : grad[i];
        T w = p[i];
        if (decoupled_decay) w = w * decay;
        if (coupled_decay) g = g + weight_decay * w;
        T m = exp_avg[i];
        m = m + (g - m) * one_minus_beta1;
        exp_avg[i] = m;
        T v = exp_avg_sq[i] * beta2 + (g * g) * one_minus_beta2;
        exp_avg_sq[i] = v;
        if (amsgrad) {
            T old = max_exp_avg_sq[i];
            v = (old > v || old != old) ? old : v;  // NumPy's maximum: NaN wins
            max_exp_avg_sq[i] = v;
        }
        T denom = sqrt(v) / bias_correction2_sqrt + eps;
        p[i] = w - (m / denom) * step_size;
    }
}
""")


def adam_step(p, g, exp_avg, exp_avg_sq, max_exp_avg_sq, *, lr, beta1, beta2, eps,
              weight_decay, decoupled, amsgrad, maximize, step) -> None:
    """One Adam (``decoupled=False``) or AdamW step of ``p`` in place at step count ``step``
    (from 1); ``max_exp_avg_sq`` is written only with amsgrad (else pass ``exp_avg_sq``)."""
    ADAM_KERNEL(p.dtype, p.size, p, g, exp_avg, exp_avg_sq, max_exp_avg_sq,
                1 - beta1, beta2, 1 - beta2, eps, weight_decay, 1 - lr * weight_decay,
                math.sqrt(1 - beta2**step), lr / (1 - beta1**step),
                int(weight_decay != 0 and not decoupled), int(weight_decay != 0 and decoupled),
                int(amsgrad), int(maximize), p.size)


RMSPROP_KERNEL = Kernel("tc_rmsprop_step", r"""
// torch.optim.RMSprop for one parameter, as RMSprop._update:
//   g = g + wd * p; v = v * alpha + (1 - alpha) * (g * g);
//   a = a + (1 - alpha) * (g - a) and d = sqrt(v - a * a) + eps (centered), else sqrt(v) + eps;
//   b = b * momentum + g / d and p = p - lr * b (momentum > 0), else p = p - lr * (g / d)
extern "C" __global__ void tc_rmsprop_step(
        T* p, const T* grad, T* square_avg, T* grad_avg, T* momentum_buffer, T lr, T alpha,
        T one_minus_alpha, T eps, T weight_decay, T momentum, long long has_weight_decay,
        long long centered, long long has_momentum, long long maximize, long long n) {
    TC_GRID_STRIDE(i, n) {
        T g = maximize ? -grad[i] : grad[i];
        if (has_weight_decay) g = g + weight_decay * p[i];
        T v = square_avg[i] * alpha + one_minus_alpha * (g * g);
        square_avg[i] = v;
        T denom;
        if (centered) {
            T a = grad_avg[i];
            a = a + one_minus_alpha * (g - a);
            grad_avg[i] = a;
            denom = sqrt(v - a * a) + eps;
        } else {
            denom = sqrt(v) + eps;
        }
        if (has_momentum) {
            T b = momentum_buffer[i] * momentum + g / denom;
            momentum_buffer[i] = b;
            p[i] = p[i] - lr * b;
        } else {
            p[i] = p[i] - lr * (g / denom);
        }
    }
}
""", deferred=True)


def rmsprop_step(p, g, square_avg, grad_avg, momentum_buffer, *, lr, alpha, eps, weight_decay,
                 momentum, centered, maximize) -> None:
    """One RMSprop step of ``p`` in place; ``grad_avg`` is used when centered and
    ``momentum_buffer`` when momentum > 0 (else pass ``square_avg`` for them)."""
    RMSPROP_KERNEL(p.dtype, p.size, p, g, square_avg, grad_avg, momentum_buffer, lr, alpha,
                   1 - alpha, eps, weight_decay, momentum, int(weight_decay != 0),
                   int(centered), int(momentum > 0), int(maximize), p.size)


ADAGRAD_KERNEL = Kernel("tc_adagrad_step", r"""
// torch.optim.Adagrad for one parameter, as Adagrad._update:
//   g = g + wd * p; s = s + g * g; p = p - clr * (g / (sqrt(s) + eps))
extern "C" __global__ void tc_adagrad_step(
        T* p, const T* grad, T* sum, T clr, T eps, T weight_decay, long long has_weight_decay,
        long long maximize, long long n) {
    TC_GRID_STRIDE(i, n) {
        T g = maximize ? -grad[i] : grad[i];
        if (has_weight_decay) g = g + weight_decay * p[i];
        T s = sum[i] + g * g;
        sum[i] = s;
        p[i] = p[i] - clr * (g / (sqrt(s) + eps));
    }
}
""", deferred=True)


def adagrad_step(p, g, sum_, *, clr, eps, weight_decay, maximize) -> None:
    """One Adagrad step of ``p`` in place with the decayed learning rate ``clr``."""
    ADAGRAD_KERNEL(p.dtype, p.size, p, g, sum_, clr, eps, weight_decay, int(weight_decay != 0),
                   int(maximize), p.size)

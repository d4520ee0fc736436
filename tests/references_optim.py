"""Plain NumPy (float64) references of the optimizers' update rules, as PyTorch documents them.

Each reference keeps its own state and maps (params, grads) -> new params, written in the
textbook form of the docs' pseudocode (no in-place tricks), so it shares no code with the package.
Also: two small test problems with analytic gradients.
"""

import math

import numpy as np


class SGD:
    def __init__(self, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False,
                 maximize=False):
        self.lr, self.mu, self.tau, self.wd = lr, momentum, dampening, weight_decay
        self.nesterov, self.maximize = nesterov, maximize
        self.b = {}
        self.t = 0

    def step(self, params, grads):
        self.t += 1
        out = []
        for i, (theta, g) in enumerate(zip(params, grads, strict=True)):
            g = -g if self.maximize else g
            if self.wd != 0:
                g = g + self.wd * theta
            if self.mu != 0:
                b = g if self.t == 1 else self.mu * self.b[i] + (1 - self.tau) * g
                self.b[i] = b
                g = g + self.mu * b if self.nesterov else b
            out.append(theta - self.lr * g)
        return out


class Adam:
    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False,
                 maximize=False, decoupled=False):
        self.lr, (self.b1, self.b2), self.eps, self.wd = lr, betas, eps, weight_decay
        self.amsgrad, self.maximize, self.decoupled = amsgrad, maximize, decoupled
        self.m, self.v, self.vmax = {}, {}, {}
        self.t = 0

    def step(self, params, grads):
        self.t += 1
        t = self.t
        out = []
        for i, (theta, g) in enumerate(zip(params, grads, strict=True)):
            g = -g if self.maximize else g
            if self.wd != 0:
                if self.decoupled:
                    theta = theta - self.lr * self.wd * theta
                else:
                    g = g + self.wd * theta
            m = self.b1 * self.m.get(i, 0.0) + (1 - self.b1) * g
            v = self.b2 * self.v.get(i, 0.0) + (1 - self.b2) * g**2
            self.m[i], self.v[i] = m, v
            m_hat = m / (1 - self.b1**t)
            if self.amsgrad:
                self.vmax[i] = np.maximum(self.vmax.get(i, 0.0), v)
                v_hat = self.vmax[i] / (1 - self.b2**t)
            else:
                v_hat = v / (1 - self.b2**t)
            out.append(theta - self.lr * m_hat / (np.sqrt(v_hat) + self.eps))
        return out


def AdamW(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False,
          maximize=False):
    return Adam(lr, betas, eps, weight_decay, amsgrad, maximize, decoupled=True)


class RMSprop:
    def __init__(self, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                 centered=False, maximize=False):
        self.lr, self.alpha, self.eps, self.wd = lr, alpha, eps, weight_decay
        self.mu, self.centered, self.maximize = momentum, centered, maximize
        self.v, self.g_avg, self.b = {}, {}, {}

    def step(self, params, grads):
        out = []
        for i, (theta, g) in enumerate(zip(params, grads, strict=True)):
            g = -g if self.maximize else g
            if self.wd != 0:
                g = g + self.wd * theta
            v = self.alpha * self.v.get(i, 0.0) + (1 - self.alpha) * g**2
            self.v[i] = v
            v_tilde = v
            if self.centered:
                g_avg = self.alpha * self.g_avg.get(i, 0.0) + (1 - self.alpha) * g
                self.g_avg[i] = g_avg
                v_tilde = v - g_avg**2
            if self.mu > 0:
                b = self.mu * self.b.get(i, 0.0) + g / (np.sqrt(v_tilde) + self.eps)
                self.b[i] = b
                out.append(theta - self.lr * b)
            else:
                out.append(theta - self.lr * g / (np.sqrt(v_tilde) + self.eps))
        return out


class Adagrad:
    def __init__(self, lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0,
                 eps=1e-10, maximize=False):
        self.lr, self.lr_decay, self.wd, self.eps = lr, lr_decay, weight_decay, eps
        self.init, self.maximize = initial_accumulator_value, maximize
        self.s = {}
        self.t = 0

    def step(self, params, grads):
        self.t += 1
        out = []
        for i, (theta, g) in enumerate(zip(params, grads, strict=True)):
            g = -g if self.maximize else g
            if self.wd != 0:
                g = g + self.wd * theta
            lr_t = self.lr / (1 + (self.t - 1) * self.lr_decay)
            s = self.s.get(i, np.full_like(theta, self.init)) + g**2
            self.s[i] = s
            out.append(theta - lr_t * g / (np.sqrt(s) + self.eps))
        return out


class NAdam:
    def __init__(self, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 momentum_decay=4e-3, decoupled_weight_decay=False, maximize=False):
        self.lr, (self.b1, self.b2), self.eps, self.wd = lr, betas, eps, weight_decay
        self.psi, self.decoupled, self.maximize = momentum_decay, decoupled_weight_decay, maximize
        self.m, self.v = {}, {}
        self.t = 0

    def mu(self, t):
        return self.b1 * (1 - 0.5 * 0.96 ** (t * self.psi))

    def step(self, params, grads):
        self.t += 1
        t = self.t
        mu_prod = math.prod(self.mu(i) for i in range(1, t + 1))
        out = []
        for i, (theta, g) in enumerate(zip(params, grads, strict=True)):
            g = -g if self.maximize else g
            if self.wd != 0:
                if self.decoupled:
                    theta = theta - self.lr * self.wd * theta
                else:
                    g = g + self.wd * theta
            m = self.b1 * self.m.get(i, 0.0) + (1 - self.b1) * g
            v = self.b2 * self.v.get(i, 0.0) + (1 - self.b2) * g**2
            self.m[i], self.v[i] = m, v
            m_hat = (self.mu(t + 1) * m / (1 - mu_prod * self.mu(t + 1))
                     + (1 - self.mu(t)) * g / (1 - mu_prod))
            v_hat = v / (1 - self.b2**t)
            out.append(theta - self.lr * m_hat / (np.sqrt(v_hat) + self.eps))
        return out


class RAdam:
    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 decoupled_weight_decay=False, maximize=False):
        self.lr, (self.b1, self.b2), self.eps, self.wd = lr, betas, eps, weight_decay
        self.decoupled, self.maximize = decoupled_weight_decay, maximize
        self.m, self.v = {}, {}
        self.t = 0

    def step(self, params, grads):
        self.t += 1
        t = self.t
        rho_inf = 2 / (1 - self.b2) - 1
        rho_t = rho_inf - 2 * t * self.b2**t / (1 - self.b2**t)
        out = []
        for i, (theta, g) in enumerate(zip(params, grads, strict=True)):
            g = -g if self.maximize else g
            if self.wd != 0:
                if self.decoupled:
                    theta = theta - self.lr * self.wd * theta
                else:
                    g = g + self.wd * theta
            m = self.b1 * self.m.get(i, 0.0) + (1 - self.b1) * g
            v = self.b2 * self.v.get(i, 0.0) + (1 - self.b2) * g**2
            self.m[i], self.v[i] = m, v
            m_hat = m / (1 - self.b1**t)
            if rho_t > 5:
                l_t = np.sqrt(1 - self.b2**t) / (np.sqrt(v) + self.eps)
                r_t = np.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf
                              / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
                out.append(theta - self.lr * m_hat * l_t * r_t)
            else:
                out.append(theta - self.lr * m_hat)
        return out


class Adamax:
    def __init__(self, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, maximize=False):
        self.lr, (self.b1, self.b2), self.eps, self.wd = lr, betas, eps, weight_decay
        self.maximize = maximize
        self.m, self.u = {}, {}
        self.t = 0

    def step(self, params, grads):
        self.t += 1
        out = []
        for i, (theta, g) in enumerate(zip(params, grads, strict=True)):
            g = -g if self.maximize else g
            if self.wd != 0:
                g = g + self.wd * theta
            m = self.b1 * self.m.get(i, 0.0) + (1 - self.b1) * g
            u = np.maximum(self.b2 * self.u.get(i, 0.0), np.abs(g) + self.eps)
            self.m[i], self.u[i] = m, u
            out.append(theta - self.lr * m / ((1 - self.b1**self.t) * u))
        return out


class Adadelta:
    def __init__(self, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, maximize=False):
        self.lr, self.rho, self.eps, self.wd, self.maximize = lr, rho, eps, weight_decay, maximize
        self.v, self.u = {}, {}

    def step(self, params, grads):
        out = []
        for i, (theta, g) in enumerate(zip(params, grads, strict=True)):
            g = -g if self.maximize else g
            if self.wd != 0:
                g = g + self.wd * theta
            v = self.rho * self.v.get(i, 0.0) + (1 - self.rho) * g**2
            dx = np.sqrt(self.u.get(i, 0.0) + self.eps) / np.sqrt(v + self.eps) * g
            u = self.rho * self.u.get(i, 0.0) + (1 - self.rho) * dx**2
            self.v[i], self.u[i] = v, u
            out.append(theta - self.lr * dx)
        return out


REFERENCES = {"SGD": SGD, "Adam": Adam, "AdamW": AdamW, "RMSprop": RMSprop, "Adagrad": Adagrad,
              "NAdam": NAdam, "RAdam": RAdam, "Adamax": Adamax, "Adadelta": Adadelta}


# --------------------------------------------------------------------------- problems
# Two parameters (a matrix W and a vector z) and a loss mixing a least-squares fit and a
# Rosenbrock valley, so gradients differ in scale per coordinate and change direction.

A = np.array([[0.9, -0.4, 0.3], [0.2, 1.1, -0.7], [-0.5, 0.3, 0.8], [0.6, 0.1, 0.4]])
Y = np.array([[0.3, -1.2], [0.8, 0.5], [-0.4, 0.9], [1.0, -0.2]])
W0 = np.array([[0.5, -0.3], [0.1, 0.7], [-0.6, 0.2]])
Z0 = np.array([-1.2, 1.0, 0.4])
ROSENBROCK_B = 5.0


def loss(W, z):
    """f(W, z) = 0.5 * ||A W - Y||^2 + sum((1 - z_i)^2 + b (z_{i+1} - z_i^2)^2)."""
    r = A @ W - Y
    return 0.5 * np.sum(r * r) + np.sum(
        (1 - z[:-1]) ** 2 + ROSENBROCK_B * (z[1:] - z[:-1] ** 2) ** 2
    )


def loss_grads(W, z):
    """Analytic (dF/dW, dF/dz)."""
    gW = A.T @ (A @ W - Y)
    gz = np.zeros_like(z)
    d = z[1:] - z[:-1] ** 2
    gz[:-1] += -2 * (1 - z[:-1]) - 4 * ROSENBROCK_B * d * z[:-1]
    gz[1:] += 2 * ROSENBROCK_B * d
    return gW, gz


def trajectory(reference, steps):
    """Parameters after each of ``steps`` updates of ``reference`` on the problem above."""
    params = [W0.copy(), Z0.copy()]
    out = []
    for _ in range(steps):
        params = reference.step(params, list(loss_grads(*params)))
        out.append([p.copy() for p in params])
    return out


def cosine_annealing(base_lr, eta_min, T_max, epoch):
    """The closed form of cosine annealing."""
    return eta_min + (base_lr - eta_min) * (1 + math.cos(math.pi * epoch / T_max)) / 2

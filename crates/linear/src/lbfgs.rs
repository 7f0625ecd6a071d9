//! Limited-memory BFGS (Nocedal & Wright, *Numerical Optimization*, 2nd ed., Algorithm 7.4/7.5)
//! with the Moré–Thuente line search ([`crate::line_search`], strong Wolfe conditions with
//! μ = 1e-4, η = 0.9): the full-batch solver Coates, Lee & Ng (2011) used (through minFunc,
//! whose default line search is also a strong-Wolfe one) to train their L2-SVM to convergence.
//!
//! The direction is `p = −H·g`, `H` the two-loop recursion over the last `memory` pairs
//! `s = θ_{k+1} − θ_k`, `y = g_{k+1} − g_k`, scaled by `γ = sᵀy / yᵀy`. The curvature condition
//! of the line search makes `sᵀy > 0`, so every pair keeps `H` positive definite (a pair that
//! rounding made non-positive is skipped). The pairs live in a ring of preallocated vectors: an
//! iteration allocates nothing.

use crate::line_search::{self, Outcome, Tolerances};

/// Stopping rules and memory of the minimiser.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Correction pairs kept (m in Nocedal & Wright).
    pub memory: usize,
    pub max_iterations: usize,
    /// Stop when `‖g‖∞ ≤ tolerance · max(1, ‖g₀‖∞)`.
    pub gradient_tolerance: f64,
    /// Stop when the objective falls by less than `tolerance · max(1, |f|)` in an iteration.
    pub function_tolerance: f64,
}

/// Why the minimiser stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    MaxIterations,
    Gradient,
    Function,
    /// The line search found no step that lowers the objective: converged to working precision.
    LineSearch,
    /// The caller asked to stop.
    Caller,
}

/// What one run did, for reports and benchmarks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Report {
    pub value: f64,
    pub iterations: usize,
    /// Evaluations of the objective, the first one included (each is a pass over the data).
    pub evaluations: usize,
    pub stop: Stop,
}

/// Minimises `f` from `theta` (updated in place). `f(θ, g)` returns the objective and writes
/// the gradient into `g`. After each iteration `on_iteration(k, f, θ)` is called; returning
/// `false` stops. A non-finite objective at the start stops with `Err(f)`.
pub fn minimize(
    theta: &mut [f64],
    f: &mut dyn FnMut(&[f64], &mut [f64]) -> f64,
    settings: Settings,
    on_iteration: &mut dyn FnMut(usize, f64, &[f64]) -> bool,
) -> Result<Report, f64> {
    let n = theta.len();
    let mut g = vec![0.0; n];
    let mut fx = f(theta, &mut g);
    let mut evaluations = 1;
    if !fx.is_finite() {
        return Err(fx);
    }
    let report = |value, iterations, evaluations, stop| {
        Ok(Report {
            value,
            iterations,
            evaluations,
            stop,
        })
    };
    let g0 = norm_inf(&g).max(1.0);
    let memory = settings.memory.max(1);
    let mut pairs = Pairs::new(memory, n);
    let mut p = vec![0.0; n];
    let mut trial = vec![0.0; n];
    let mut g_new = vec![0.0; n];
    let mut alpha_buf = vec![0.0; memory];
    let tolerances = Tolerances::default();
    for k in 1..=settings.max_iterations {
        if norm_inf(&g) <= settings.gradient_tolerance * g0 {
            return report(fx, k - 1, evaluations, Stop::Gradient);
        }
        pairs.direction(&g, &mut alpha_buf, &mut p);
        let mut slope = dot(&g, &p);
        if slope.is_nan() || slope >= 0.0 {
            // Not a descent direction (numerical trouble): restart from steepest descent.
            pairs.clear();
            p.iter_mut().zip(&g).for_each(|(pi, gi)| *pi = -gi);
            slope = dot(&g, &p);
        }
        // The first step has no curvature information: make it of unit length.
        let first_step = if pairs.is_empty() {
            (1.0 / norm2(&p)).min(1.0)
        } else {
            1.0
        };
        let last_evaluated = std::cell::Cell::new(f64::NAN);
        let mut phi = |step: f64| {
            for ((t, &th), &pi) in trial.iter_mut().zip(theta.iter()).zip(&p) {
                *t = th + step * pi;
            }
            let value = f(&trial, &mut g_new);
            last_evaluated.set(step);
            (value, dot(&g_new, &p))
        };
        let result = line_search::search(fx, slope, first_step, tolerances, &mut phi);
        evaluations += result.evaluations;
        if result.step != last_evaluated.get() {
            // The search fell back to an earlier point: evaluate it again for its gradient.
            phi(result.step);
            evaluations += 1;
        }
        let f_new = result.value;
        let decreased = f_new.is_finite()
            && f_new <= fx + tolerances.ftol * result.step * slope
            && (result.outcome == Outcome::Converged || f_new < fx);
        if !decreased {
            return report(fx, k - 1, evaluations, Stop::LineSearch);
        }
        pairs.push(result.step, &p, &g_new, &g);
        theta.copy_from_slice(&trial);
        std::mem::swap(&mut g, &mut g_new);
        let decrease = fx - f_new;
        fx = f_new;
        if !on_iteration(k, fx, theta) {
            return report(fx, k, evaluations, Stop::Caller);
        }
        if decrease <= settings.function_tolerance * fx.abs().max(1.0) {
            return report(fx, k, evaluations, Stop::Function);
        }
    }
    report(
        fx,
        settings.max_iterations,
        evaluations,
        Stop::MaxIterations,
    )
}

/// The last `memory` pairs `(s, y)` with `ρ = 1 / sᵀy`, oldest first, in a ring.
struct Pairs {
    s: Vec<Vec<f64>>,
    y: Vec<Vec<f64>>,
    rho: Vec<f64>,
    /// Index of the oldest pair and the number held.
    start: usize,
    len: usize,
}

impl Pairs {
    fn new(memory: usize, n: usize) -> Self {
        Pairs {
            s: vec![vec![0.0; n]; memory],
            y: vec![vec![0.0; n]; memory],
            rho: vec![0.0; memory],
            start: 0,
            len: 0,
        }
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn clear(&mut self) {
        self.len = 0;
    }

    /// Slot of the i-th oldest pair.
    fn slot(&self, i: usize) -> usize {
        (self.start + i) % self.s.len()
    }

    /// Adds `s = step·p`, `y = g_new − g` unless `sᵀy` is not safely positive.
    fn push(&mut self, step: f64, p: &[f64], g_new: &[f64], g: &[f64]) {
        let m = self.s.len();
        let slot = if self.len < m {
            self.slot(self.len)
        } else {
            self.start
        };
        {
            let (s, y) = (&mut self.s[slot], &mut self.y[slot]);
            for (si, &pi) in s.iter_mut().zip(p) {
                *si = step * pi;
            }
            for ((yi, &a), &b) in y.iter_mut().zip(g_new).zip(g) {
                *yi = a - b;
            }
        }
        let sy = dot(&self.s[slot], &self.y[slot]);
        let yy = dot(&self.y[slot], &self.y[slot]);
        if sy.is_nan() || sy <= 1e-12 * yy.max(1e-300) {
            return;
        }
        self.rho[slot] = 1.0 / sy;
        if self.len < m {
            self.len += 1;
        } else {
            self.start = (self.start + 1) % m;
        }
    }

    /// Two-loop recursion: `p = −H g`.
    fn direction(&self, g: &[f64], alpha: &mut [f64], p: &mut [f64]) {
        p.iter_mut().zip(g).for_each(|(pi, gi)| *pi = -gi);
        for i in (0..self.len).rev() {
            let j = self.slot(i);
            alpha[i] = self.rho[j] * dot(&self.s[j], p);
            axpy(-alpha[i], &self.y[j], p);
        }
        if self.len > 0 {
            let j = self.slot(self.len - 1);
            let gamma = dot(&self.s[j], &self.y[j]) / dot(&self.y[j], &self.y[j]);
            p.iter_mut().for_each(|pi| *pi *= gamma);
        }
        for (i, &a) in alpha.iter().enumerate().take(self.len) {
            let j = self.slot(i);
            let beta = self.rho[j] * dot(&self.y[j], p);
            axpy(a - beta, &self.s[j], p);
        }
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn axpy(a: f64, x: &[f64], y: &mut [f64]) {
    y.iter_mut().zip(x).for_each(|(yi, xi)| *yi += a * xi);
}

fn norm2(a: &[f64]) -> f64 {
    dot(a, a).sqrt()
}

fn norm_inf(a: &[f64]) -> f64 {
    a.iter().fold(0.0, |m, v| m.max(v.abs()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Rosenbrock function's minimum (1, 1), from the classic start (−1.2, 1).
    #[test]
    fn finds_the_rosenbrock_minimum() {
        let mut theta = [-1.2, 1.0];
        let mut f = |t: &[f64], g: &mut [f64]| {
            let (x, y) = (t[0], t[1]);
            g[0] = -2.0 * (1.0 - x) - 400.0 * x * (y - x * x);
            g[1] = 200.0 * (y - x * x);
            (1.0 - x).powi(2) + 100.0 * (y - x * x).powi(2)
        };
        let settings = Settings {
            memory: 5,
            max_iterations: 200,
            gradient_tolerance: 1e-10,
            function_tolerance: 0.0,
        };
        let r = minimize(&mut theta, &mut f, settings, &mut |_, _, _| true).unwrap();
        assert!(r.value < 1e-12, "{r:?}");
        // With a strong-Wolfe search most iterations take the unit step.
        assert!(r.evaluations < 2 * r.iterations + 5, "{r:?}");
        assert!((theta[0] - 1.0).abs() < 1e-5 && (theta[1] - 1.0).abs() < 1e-5);
    }
}

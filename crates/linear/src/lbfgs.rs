//! Limited-memory BFGS (Nocedal & Wright, *Numerical Optimization*, 2nd ed., Algorithm 7.4/7.5)
//! with a backtracking Armijo line search: the full-batch solver Coates, Lee & Ng (2011) used
//! (through minFunc) to train their L2-SVM to convergence.
//!
//! The direction is `p = −H·g`, `H` the two-loop recursion over the last `memory` pairs
//! `s = θ_{k+1} − θ_k`, `y = g_{k+1} − g_k`, scaled by `γ = sᵀy / yᵀy`; a pair is kept only if
//! `sᵀy > 0` (curvature condition), which keeps `H` positive definite.

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
    /// No step along the direction lowered the objective: converged to working precision.
    LineSearch,
    /// The caller asked to stop.
    Caller,
}

/// Minimises `f` from `theta` (updated in place). `f(θ, g)` returns the objective and writes
/// the gradient into `g`. After each iteration `on_iteration(k, f, θ)` is called; returning
/// `false` stops. A non-finite objective stops with `Err(f)`.
pub fn minimize(
    theta: &mut [f64],
    f: &mut dyn FnMut(&[f64], &mut [f64]) -> f64,
    settings: Settings,
    on_iteration: &mut dyn FnMut(usize, f64, &[f64]) -> bool,
) -> Result<(f64, usize, Stop), f64> {
    let n = theta.len();
    let mut g = vec![0.0; n];
    let mut fx = f(theta, &mut g);
    if !fx.is_finite() {
        return Err(fx);
    }
    let g0 = norm_inf(&g).max(1.0);
    let mut s_hist: Vec<Vec<f64>> = Vec::new();
    let mut y_hist: Vec<Vec<f64>> = Vec::new();
    let mut rho: Vec<f64> = Vec::new();
    let mut p = vec![0.0; n];
    let mut trial = vec![0.0; n];
    let mut g_new = vec![0.0; n];
    let mut alpha_buf = vec![0.0; settings.memory.max(1)];
    for k in 1..=settings.max_iterations {
        if norm_inf(&g) <= settings.gradient_tolerance * g0 {
            return Ok((fx, k - 1, Stop::Gradient));
        }
        direction(&g, &s_hist, &y_hist, &rho, &mut alpha_buf, &mut p);
        let mut slope = dot(&g, &p);
        if slope >= 0.0 {
            // Not a descent direction (numerical trouble): restart from steepest descent.
            s_hist.clear();
            y_hist.clear();
            rho.clear();
            p.iter_mut().zip(&g).for_each(|(pi, gi)| *pi = -gi);
            slope = dot(&g, &p);
        }
        // The first step has no curvature information: make it of unit length.
        let mut step = if s_hist.is_empty() {
            (1.0 / norm2(&p)).min(1.0)
        } else {
            1.0
        };
        let mut accepted = None;
        for _ in 0..30 {
            for ((t, &th), &pi) in trial.iter_mut().zip(theta.iter()).zip(&p) {
                *t = th + step * pi;
            }
            let f_trial = f(&trial, &mut g_new);
            if f_trial.is_finite() && f_trial <= fx + 1e-4 * step * slope {
                accepted = Some(f_trial);
                break;
            }
            // Minimiser of the quadratic through f(0), f'(0) and f(step), kept in [0.1, 0.5]·step.
            let shrink = if f_trial.is_finite() {
                let q = -slope * step / (2.0 * (f_trial - fx - slope * step));
                q.clamp(0.1, 0.5)
            } else {
                0.1
            };
            step *= shrink;
        }
        let Some(f_new) = accepted else {
            return Ok((fx, k - 1, Stop::LineSearch));
        };
        let s: Vec<f64> = p.iter().map(|pi| step * pi).collect();
        let y: Vec<f64> = g_new.iter().zip(&g).map(|(a, b)| a - b).collect();
        let sy = dot(&s, &y);
        if sy > 1e-12 * dot(&y, &y).max(1e-300) {
            if s_hist.len() == settings.memory {
                s_hist.remove(0);
                y_hist.remove(0);
                rho.remove(0);
            }
            s_hist.push(s);
            y_hist.push(y);
            rho.push(1.0 / sy);
        }
        theta.copy_from_slice(&trial);
        std::mem::swap(&mut g, &mut g_new);
        let decrease = fx - f_new;
        fx = f_new;
        if !on_iteration(k, fx, theta) {
            return Ok((fx, k, Stop::Caller));
        }
        if decrease <= settings.function_tolerance * fx.abs().max(1.0) {
            return Ok((fx, k, Stop::Function));
        }
    }
    Ok((fx, settings.max_iterations, Stop::MaxIterations))
}

/// Two-loop recursion: `p = −H g`.
fn direction(
    g: &[f64],
    s_hist: &[Vec<f64>],
    y_hist: &[Vec<f64>],
    rho: &[f64],
    alpha: &mut [f64],
    p: &mut [f64],
) {
    p.iter_mut().zip(g).for_each(|(pi, gi)| *pi = -gi);
    let m = s_hist.len();
    for i in (0..m).rev() {
        alpha[i] = rho[i] * dot(&s_hist[i], p);
        axpy(-alpha[i], &y_hist[i], p);
    }
    if let (Some(s), Some(y)) = (s_hist.last(), y_hist.last()) {
        let gamma = dot(s, y) / dot(y, y);
        p.iter_mut().for_each(|pi| *pi *= gamma);
    }
    for i in 0..m {
        let beta = rho[i] * dot(&y_hist[i], p);
        axpy(alpha[i] - beta, &s_hist[i], p);
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
        let (fx, _, _) = minimize(&mut theta, &mut f, settings, &mut |_, _, _| true).unwrap();
        assert!(fx < 1e-12, "{fx}");
        assert!((theta[0] - 1.0).abs() < 1e-5 && (theta[1] - 1.0).abs() < 1e-5);
    }
}

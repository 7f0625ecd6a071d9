//! The Moré–Thuente line search: a step `α > 0` along a descent direction that satisfies the
//! strong Wolfe conditions
//!
//! ```text
//! φ(α) ≤ φ(0) + μ α φ'(0)          (sufficient decrease, μ = `ftol`)
//! |φ'(α)| ≤ η |φ'(0)|               (curvature, η = `gtol`)
//! ```
//!
//! for `φ(α) = f(θ + α p)`. J. J. Moré and D. J. Thuente, "Line search algorithms with
//! guaranteed sufficient decrease", ACM TOMS 20 (1994) 286–307; this follows their MINPACK-2
//! routines `dcsrch` / `dcstep` step by step (safeguarded cubic and quadratic interpolation in
//! an interval of uncertainty that shrinks every step, with the modified function
//! `ψ(α) = φ(α) − φ(0) − μ α φ'(0)` while no point with `ψ ≤ 0, φ' ≥ 0` has been seen).
//!
//! The strong Wolfe conditions are what quasi-Newton methods need: the curvature condition
//! guarantees `sᵀy > 0`, so every L-BFGS pair is usable, and with `η = 0.9` the unit step is
//! accepted almost always, so an iteration costs one evaluation of the objective.

/// Tolerances of the search (MINPACK-2's defaults for quasi-Newton methods).
#[derive(Debug, Clone, Copy)]
pub struct Tolerances {
    /// μ of the sufficient-decrease condition.
    pub ftol: f64,
    /// η of the curvature condition (`ftol < gtol < 1`).
    pub gtol: f64,
    /// Relative width of the interval of uncertainty below which the search stops.
    pub xtol: f64,
    pub step_min: f64,
    pub step_max: f64,
    /// Evaluations of `φ` per search.
    pub max_evaluations: usize,
}

impl Default for Tolerances {
    fn default() -> Self {
        Tolerances {
            ftol: 1e-4,
            gtol: 0.9,
            xtol: 1e-10,
            step_min: 1e-20,
            step_max: 1e20,
            max_evaluations: 20,
        }
    }
}

/// How a search ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Both strong Wolfe conditions hold at the returned step.
    Converged,
    /// The interval of uncertainty shrank below `xtol` (or rounding errors prevent progress);
    /// the returned step is the best one found.
    IntervalTooSmall,
    /// The step hit `step_max` (`step_min`) with the conditions unmet.
    AtBound,
    /// `max_evaluations` evaluations without meeting the conditions.
    MaxEvaluations,
}

/// The result: the step, `φ` and `φ'` there, the number of evaluations, and why it stopped.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Step {
    pub step: f64,
    pub value: f64,
    pub slope: f64,
    pub evaluations: usize,
    pub outcome: Outcome,
}

/// Searches from `step` (the first trial, > 0) given `φ(0) = f0` and `φ'(0) = g0 < 0`.
/// `phi(α)` returns `(φ(α), φ'(α))`. The returned step is always one that was evaluated
/// (the last evaluation unless it stopped early on a non-finite value or at a bound), so the
/// caller's state for it can be kept from that evaluation.
///
/// A non-finite `φ(α)` is treated as "too far": the step is cut by 10 and the search goes on
/// from the best point known.
pub fn search(
    f0: f64,
    g0: f64,
    mut step: f64,
    tol: Tolerances,
    phi: &mut dyn FnMut(f64) -> (f64, f64),
) -> Step {
    debug_assert!(g0 < 0.0 && step > 0.0);
    let gtest = tol.ftol * g0;
    let mut brackt = false;
    let mut stage1 = true;
    let mut width = tol.step_max - tol.step_min;
    let mut width1 = 2.0 * width;
    // Best point (x) and the other end (y) of the interval of uncertainty.
    let (mut stx, mut fx, mut gx) = (0.0, f0, g0);
    let (mut sty, mut fy, mut gy) = (0.0, f0, g0);
    let mut stmin = 0.0;
    let mut stmax = step + 4.0 * step;
    let mut evaluations = 0;
    loop {
        let (f, g) = phi(step);
        evaluations += 1;
        if !(f.is_finite() && g.is_finite()) {
            if evaluations >= tol.max_evaluations {
                return Step {
                    step: stx,
                    value: fx,
                    slope: gx,
                    evaluations,
                    outcome: Outcome::MaxEvaluations,
                };
            }
            // Overflow: retreat towards the best point and keep the bracket.
            brackt = true;
            sty = step;
            fy = f64::INFINITY;
            gy = f64::INFINITY;
            step = stx + 0.1 * (step - stx);
            stmin = stx.min(step);
            stmax = stx.max(sty);
            continue;
        }
        let ftest = f0 + step * gtest;
        if stage1 && f <= ftest && g >= 0.0 {
            stage1 = false;
        }
        let done = |outcome| Step {
            step,
            value: f,
            slope: g,
            evaluations,
            outcome,
        };
        if f <= ftest && g.abs() <= tol.gtol * (-g0) {
            return done(Outcome::Converged);
        }
        if brackt && (step <= stmin || step >= stmax) {
            return done(Outcome::IntervalTooSmall);
        }
        if brackt && stmax - stmin <= tol.xtol * stmax {
            return done(Outcome::IntervalTooSmall);
        }
        if step >= tol.step_max && f <= ftest && g <= gtest {
            return done(Outcome::AtBound);
        }
        if step <= tol.step_min && (f > ftest || g >= gtest) {
            return done(Outcome::AtBound);
        }
        if evaluations >= tol.max_evaluations {
            return done(Outcome::MaxEvaluations);
        }
        let mut iv = Interval {
            stx,
            fx,
            dx: gx,
            sty,
            fy,
            dy: gy,
            brackt,
        };
        // In stage 1 the modified function ψ has the interval's structure; once a point with
        // ψ ≤ 0 and φ' ≥ 0 is known, φ itself does.
        if stage1 && f <= fx && f > ftest {
            iv.fx -= stx * gtest;
            iv.fy -= sty * gtest;
            iv.dx -= gtest;
            iv.dy -= gtest;
            step = iv.step(step, f - step * gtest, g - gtest, stmin, stmax);
            iv.fx += iv.stx * gtest;
            iv.fy += iv.sty * gtest;
            iv.dx += gtest;
            iv.dy += gtest;
        } else {
            step = iv.step(step, f, g, stmin, stmax);
        }
        Interval {
            stx,
            fx,
            dx: gx,
            sty,
            fy,
            dy: gy,
            brackt,
        } = iv;
        if brackt {
            // Force a sufficient shrink of the interval (bisection when cubic steps stall).
            if (sty - stx).abs() >= 0.66 * width1 {
                step = stx + 0.5 * (sty - stx);
            }
            width1 = width;
            width = (sty - stx).abs();
            stmin = stx.min(sty);
            stmax = stx.max(sty);
        } else {
            stmin = step + 1.1 * (step - stx);
            stmax = step + 4.0 * (step - stx);
        }
        step = step.clamp(tol.step_min, tol.step_max);
        if brackt && (step <= stmin || step >= stmax || stmax - stmin <= tol.xtol * stmax) {
            step = stx;
        }
    }
}

/// The interval of uncertainty of `dcstep`: the best point `x` so far, the other endpoint `y`
/// (both with value and derivative), and whether a minimiser is bracketed.
struct Interval {
    stx: f64,
    fx: f64,
    dx: f64,
    sty: f64,
    fy: f64,
    dy: f64,
    brackt: bool,
}

impl Interval {
    /// Moré–Thuente's `dcstep`: updates the interval with the trial point `(stp, fp, dp)` and
    /// returns the next trial step, kept in `[stpmin, stpmax]` while nothing is bracketed.
    fn step(&mut self, stp: f64, fp: f64, dp: f64, stpmin: f64, stpmax: f64) -> f64 {
        let (stx, fx, dx) = (self.stx, self.fx, self.dx);
        let (sty, fy, dy) = (self.sty, self.fy, self.dy);
        let sgnd = dp * dx.signum();
        let cubic = |theta: f64, d1: f64, d2: f64, s: f64, flip: bool, clamp_zero: bool| {
            let disc = (theta / s).powi(2) - (d1 / s) * (d2 / s);
            let disc = if clamp_zero { disc.max(0.0) } else { disc };
            let gamma = s * disc.sqrt();
            if flip {
                -gamma
            } else {
                gamma
            }
        };
        let stpf = if fp > fx {
            // Case 1: a higher value. The minimiser is bracketed; take the cubic step if it is
            // closer to stx than the quadratic one, otherwise their average.
            let theta = 3.0 * (fx - fp) / (stp - stx) + dx + dp;
            let s = theta.abs().max(dx.abs()).max(dp.abs());
            let gamma = cubic(theta, dx, dp, s, stp < stx, false);
            let p = (gamma - dx) + theta;
            let q = ((gamma - dx) + gamma) + dp;
            let stpc = stx + (p / q) * (stp - stx);
            let stpq = stx + ((dx / ((fx - fp) / (stp - stx) + dx)) / 2.0) * (stp - stx);
            self.brackt = true;
            if (stpc - stx).abs() < (stpq - stx).abs() {
                stpc
            } else {
                stpc + (stpq - stpc) / 2.0
            }
        } else if sgnd < 0.0 {
            // Case 2: lower value, derivatives of opposite sign: bracketed; the step farther
            // from stp of the cubic and the secant.
            let theta = 3.0 * (fx - fp) / (stp - stx) + dx + dp;
            let s = theta.abs().max(dx.abs()).max(dp.abs());
            let gamma = cubic(theta, dx, dp, s, stp > stx, false);
            let p = (gamma - dp) + theta;
            let q = ((gamma - dp) + gamma) + dx;
            let stpc = stp + (p / q) * (stx - stp);
            let stpq = stp + (dp / (dp - dx)) * (stx - stp);
            self.brackt = true;
            if (stpc - stp).abs() > (stpq - stp).abs() {
                stpc
            } else {
                stpq
            }
        } else if dp.abs() < dx.abs() {
            // Case 3: lower value, same-sign derivative decreasing in magnitude.
            let theta = 3.0 * (fx - fp) / (stp - stx) + dx + dp;
            let s = theta.abs().max(dx.abs()).max(dp.abs());
            let gamma = cubic(theta, dx, dp, s, stp > stx, true);
            let p = (gamma - dp) + theta;
            let q = (gamma + (dx - dp)) + gamma;
            let r = p / q;
            let stpc = if r < 0.0 && gamma != 0.0 {
                stp + r * (stx - stp)
            } else if stp > stx {
                stpmax
            } else {
                stpmin
            };
            let stpq = stp + (dp / (dp - dx)) * (stx - stp);
            if self.brackt {
                let f = if (stpc - stp).abs() < (stpq - stp).abs() {
                    stpc
                } else {
                    stpq
                };
                if stp > stx {
                    f.min(stp + 0.66 * (sty - stp))
                } else {
                    f.max(stp + 0.66 * (sty - stp))
                }
            } else {
                let f = if (stpc - stp).abs() > (stpq - stp).abs() {
                    stpc
                } else {
                    stpq
                };
                f.clamp(stpmin, stpmax)
            }
        } else if self.brackt {
            // Case 4: lower value, derivative not decreasing: cubic step towards sty.
            let theta = 3.0 * (fp - fy) / (sty - stp) + dy + dp;
            let s = theta.abs().max(dy.abs()).max(dp.abs());
            let gamma = cubic(theta, dy, dp, s, stp > sty, false);
            let p = (gamma - dp) + theta;
            let q = ((gamma - dp) + gamma) + dy;
            stp + (p / q) * (sty - stp)
        } else if stp > stx {
            stpmax
        } else {
            stpmin
        };
        // Update the interval: y takes the worse point; x the better one.
        if fp > fx {
            self.sty = stp;
            self.fy = fp;
            self.dy = dp;
        } else {
            if sgnd < 0.0 {
                self.sty = stx;
                self.fy = fx;
                self.dy = dx;
            }
            self.stx = stp;
            self.fx = fp;
            self.dx = dp;
        }
        stpf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The six test functions of Moré & Thuente (1994, §5), each with its (μ, η), from the
    /// starting steps 1e-3, 1e-1, 10, 1e3 used in their tables.
    #[test]
    fn more_thuente_test_functions_meet_strong_wolfe() {
        type Phi = Box<dyn Fn(f64) -> (f64, f64)>;
        let phi0 = |b1: f64, b2: f64, a: f64| -> (f64, f64) {
            // φ(α) = γ(β1)·√((1−α)² + β2²) + γ(β2)·√(α² + β1²), γ(β) = √(1+β²) − β.
            let gamma = |b: f64| (1.0 + b * b).sqrt() - b;
            let (g1, g2) = (gamma(b1), gamma(b2));
            let f = g1 * ((1.0 - a).powi(2) + b2 * b2).sqrt() + g2 * (a * a + b1 * b1).sqrt();
            let d = g1 * (a - 1.0) / ((1.0 - a).powi(2) + b2 * b2).sqrt()
                + g2 * a / (a * a + b1 * b1).sqrt();
            (f, d)
        };
        let cases: Vec<(&str, Phi, f64, f64)> = vec![
            (
                "-a/(a^2+2)",
                Box::new(|a: f64| {
                    let b = 2.0;
                    (-a / (a * a + b), (a * a - b) / (a * a + b).powi(2))
                }),
                1e-3,
                0.1,
            ),
            (
                "(a+0.004)^5 - 2(a+0.004)^4",
                Box::new(|a: f64| {
                    let b = 0.004;
                    (
                        (a + b).powi(5) - 2.0 * (a + b).powi(4),
                        (a + b).powi(3) * (5.0 * a + 5.0 * b - 8.0),
                    )
                }),
                0.1,
                0.1,
            ),
            (
                "wiggly",
                Box::new(|a: f64| {
                    let (b, l) = (0.01, 39.0);
                    let pi = std::f64::consts::PI;
                    let phi = if a <= 1.0 - b {
                        (1.0 - a, -1.0)
                    } else if a >= 1.0 + b {
                        (a - 1.0, 1.0)
                    } else {
                        ((a - 1.0).powi(2) / (2.0 * b) + b / 2.0, (a - 1.0) / b)
                    };
                    let w = 2.0 * (1.0 - b) / (l * pi) * (l * pi / 2.0 * a).sin();
                    let dw = (1.0 - b) * (l * pi / 2.0 * a).cos();
                    (phi.0 + w, phi.1 + dw)
                }),
                0.1,
                0.1,
            ),
            (
                "phi0(0.001, 0.001)",
                Box::new(move |a| phi0(0.001, 0.001, a)),
                1e-3,
                1e-3,
            ),
            (
                "phi0(0.01, 0.001)",
                Box::new(move |a| phi0(0.01, 0.001, a)),
                1e-3,
                1e-3,
            ),
            (
                "phi0(0.001, 0.01)",
                Box::new(move |a| phi0(0.001, 0.01, a)),
                1e-3,
                1e-3,
            ),
        ];
        for (name, f, ftol, gtol) in &cases {
            let (f0, g0) = f(0.0);
            for start in [1e-3, 1e-1, 10.0, 1e3] {
                let tol = Tolerances {
                    ftol: *ftol,
                    gtol: *gtol,
                    max_evaluations: 30,
                    ..Tolerances::default()
                };
                let r = search(f0, g0, start, tol, &mut |a| f(a));
                assert_eq!(r.outcome, Outcome::Converged, "{name} from {start}: {r:?}");
                let (fa, ga) = f(r.step);
                assert_eq!(
                    (fa, ga),
                    (r.value, r.slope),
                    "{name}: reported point is evaluated"
                );
                assert!(
                    fa <= f0 + ftol * r.step * g0,
                    "{name} from {start}: decrease"
                );
                assert!(
                    ga.abs() <= gtol * g0.abs(),
                    "{name} from {start}: curvature"
                );
                // Moré–Thuente's tables: at most 12 evaluations on these problems.
                assert!(
                    r.evaluations <= 14,
                    "{name} from {start}: {} evaluations",
                    r.evaluations
                );
            }
        }
    }

    #[test]
    fn unit_step_on_a_quadratic_is_accepted_at_once() {
        // φ(α) = (α − 1)², the exact minimiser at α = 1.
        let r = search(1.0, -2.0, 1.0, Tolerances::default(), &mut |a| {
            ((a - 1.0).powi(2), 2.0 * (a - 1.0))
        });
        assert_eq!(
            (r.step, r.evaluations, r.outcome),
            (1.0, 1, Outcome::Converged)
        );
    }

    #[test]
    fn overflow_retreats() {
        // Infinite beyond α = 2: the search must come back and find the minimiser at 0.5.
        let r = search(0.25, -1.0, 100.0, Tolerances::default(), &mut |a| {
            if a > 2.0 {
                (f64::INFINITY, f64::NAN)
            } else {
                ((a - 0.5).powi(2), 2.0 * (a - 0.5))
            }
        });
        assert_eq!(r.outcome, Outcome::Converged, "{r:?}");
        assert!(r.value <= 0.25 - 1e-4 * r.step);
    }
}

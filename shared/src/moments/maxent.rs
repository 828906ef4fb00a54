//! Maximum-entropy density on `[-1, 1]` from Chebyshev moments, by Newton's
//! method on the convex dual (Gan et al., "Moment-Based Quantile Sketches",
//! VLDB 2018, §4.2, and stanford-futuredata/msketch).
//!
//! Find `f(u) = exp(Σ_j λ_j T_j(u))` with `∫ T_j f = μ_j` (μ_0 = 1) by
//! minimising the potential `Γ(λ) = ∫ exp(Σ λ_j T_j) − Σ λ_j μ_j`, whose
//! gradient is the moment residual and whose Hessian is `∫ T_i T_j f`.
//! Integrals use Clenshaw–Curtis quadrature; steps use a backtracking line
//! search. Convergence means every moment residual is below [`TOLERANCE`].

/// Clenshaw–Curtis order: the solve integrates on `QUAD_ORDER + 1` nodes.
const QUAD_ORDER: usize = 256;
/// Points of the uniform grid the CDF is tabulated on.
const CDF_POINTS: usize = 4097;
/// Largest moment residual accepted as converged.
pub const TOLERANCE: f64 = 1e-9;
/// Residual accepted when the line search can make no more progress
/// (the moments themselves are trusted only to ~1e-6).
const ACCEPTABLE_RESIDUAL: f64 = 1e-7;
/// Newton iterations before giving up.
const MAX_ITERATIONS: usize = 200;

/// A converged density, tabulated as a CDF.
#[derive(Debug, Clone)]
pub struct MaxEntDensity {
    /// `cdf[i]` = P(U ≤ -1 + 2i/(CDF_POINTS−1)), from 0 to 1.
    cdf: Vec<f64>,
    /// Newton iterations used.
    pub iterations: usize,
}

/// Why the solver stopped without a density.
#[derive(Debug, Clone, PartialEq)]
pub struct SolveFailure {
    /// Iterations run.
    pub iterations: usize,
    /// Largest moment residual at the end.
    pub residual: f64,
}

struct Quadrature {
    nodes: Vec<f64>,
    weights: Vec<f64>,
}

/// Clenshaw–Curtis nodes `cos(kπ/N)` and weights (Trefethen, *Spectral
/// Methods in MATLAB*, `clencurt`).
fn clenshaw_curtis(n: usize) -> Quadrature {
    use std::f64::consts::PI;
    let nf = n as f64;
    let theta: Vec<f64> = (0..=n).map(|k| PI * k as f64 / nf).collect();
    let nodes = theta.iter().map(|t| t.cos()).collect();
    let mut weights = vec![0.0; n + 1];
    let mut v = vec![1.0; n.saturating_sub(1)];
    if n.is_multiple_of(2) {
        weights[0] = 1.0 / (nf * nf - 1.0);
        weights[n] = weights[0];
        for k in 1..n / 2 {
            for (i, vi) in v.iter_mut().enumerate() {
                *vi -= 2.0 * (2.0 * k as f64 * theta[i + 1]).cos() / (4.0 * (k * k) as f64 - 1.0);
            }
        }
        for (i, vi) in v.iter_mut().enumerate() {
            *vi -= (nf * theta[i + 1]).cos() / (nf * nf - 1.0);
        }
    } else {
        weights[0] = 1.0 / (nf * nf);
        weights[n] = weights[0];
        for k in 1..=(n - 1) / 2 {
            for (i, vi) in v.iter_mut().enumerate() {
                *vi -= 2.0 * (2.0 * k as f64 * theta[i + 1]).cos() / (4.0 * (k * k) as f64 - 1.0);
            }
        }
    }
    for (i, vi) in v.iter().enumerate() {
        weights[i + 1] = 2.0 * vi / nf;
    }
    Quadrature { nodes, weights }
}

fn quadrature() -> &'static Quadrature {
    static QUAD: std::sync::OnceLock<Quadrature> = std::sync::OnceLock::new();
    QUAD.get_or_init(|| clenshaw_curtis(QUAD_ORDER))
}

/// `T_0(u) .. T_m(u)` into `out`.
fn chebyshev_row(u: f64, out: &mut [f64]) {
    let mut prev = 1.0;
    let mut cur = u;
    for (j, slot) in out.iter_mut().enumerate() {
        *slot = match j {
            0 => 1.0,
            1 => u,
            _ => {
                let next = 2.0 * u * cur - prev;
                prev = cur;
                cur = next;
                next
            }
        };
    }
}

/// Solves for the density whose Chebyshev moments `E[T_1..T_m]` are `mu`.
pub fn solve(mu: &[f64]) -> Result<MaxEntDensity, SolveFailure> {
    let m = mu.len() + 1;
    let quad = quadrature();
    let nodes = quad.nodes.len();
    // basis[n*m + j] = T_j(node n)
    let mut basis = vec![0.0; nodes * m];
    for (n, &u) in quad.nodes.iter().enumerate() {
        chebyshev_row(u, &mut basis[n * m..(n + 1) * m]);
    }
    let target: Vec<f64> = std::iter::once(1.0).chain(mu.iter().copied()).collect();
    let mut lambda = vec![0.0; m];
    lambda[0] = 0.5f64.ln(); // uniform density on [-1, 1]

    let density = |lambda: &[f64], f: &mut Vec<f64>| -> f64 {
        f.clear();
        let mut potential = 0.0;
        for n in 0..nodes {
            let row = &basis[n * m..(n + 1) * m];
            let exponent: f64 = row.iter().zip(lambda).map(|(t, l)| t * l).sum();
            let v = exponent.exp();
            f.push(v);
            potential += quad.weights[n] * v;
        }
        potential - lambda.iter().zip(&target).map(|(l, t)| l * t).sum::<f64>()
    };

    let mut f = Vec::with_capacity(nodes);
    let mut trial_f = Vec::with_capacity(nodes);
    let mut potential = density(&lambda, &mut f);
    let mut residual = f64::INFINITY;
    let mut gradient = vec![0.0; m];
    let mut hessian = vec![0.0; m * m];
    for iteration in 0..MAX_ITERATIONS {
        gradient.iter_mut().for_each(|g| *g = 0.0);
        hessian.iter_mut().for_each(|h| *h = 0.0);
        for n in 0..nodes {
            let wf = quad.weights[n] * f[n];
            let row = &basis[n * m..(n + 1) * m];
            for i in 0..m {
                let a = wf * row[i];
                gradient[i] += a;
                for j in 0..=i {
                    hessian[i * m + j] += a * row[j];
                }
            }
        }
        for i in 0..m {
            gradient[i] -= target[i];
            for j in 0..i {
                hessian[j * m + i] = hessian[i * m + j];
            }
        }
        residual = gradient.iter().fold(0.0f64, |a, g| a.max(g.abs()));
        if !residual.is_finite() {
            break;
        }
        if residual < TOLERANCE {
            return Ok(MaxEntDensity {
                cdf: tabulate_cdf(&lambda),
                iterations: iteration,
            });
        }
        let step = match cholesky_solve(&hessian, &gradient, m) {
            Some(s) => s,
            None => break,
        };
        // Newton direction is -step; backtrack until the potential drops enough.
        let slope: f64 = -gradient.iter().zip(&step).map(|(g, s)| g * s).sum::<f64>();
        let mut t = 1.0;
        let mut accepted = false;
        let mut trial = lambda.clone();
        while t > 1e-12 {
            for i in 0..m {
                trial[i] = lambda[i] - t * step[i];
            }
            let p = density(&trial, &mut trial_f);
            // Armijo condition, allowing for rounding in the potential itself
            // (near the optimum the predicted decrease is below its precision).
            let rounding = 1e-13 * potential.abs().max(1.0);
            if p.is_finite() && p <= potential + 1e-4 * t * slope + rounding {
                lambda.copy_from_slice(&trial);
                std::mem::swap(&mut f, &mut trial_f);
                potential = p;
                accepted = true;
                break;
            }
            t *= 0.5;
        }
        if !accepted {
            if residual < ACCEPTABLE_RESIDUAL {
                // No further progress is possible in floating point and the
                // moments already match to well within their own precision.
                return Ok(MaxEntDensity {
                    cdf: tabulate_cdf(&lambda),
                    iterations: iteration,
                });
            }
            return Err(SolveFailure {
                iterations: iteration,
                residual,
            });
        }
    }
    Err(SolveFailure {
        iterations: MAX_ITERATIONS,
        residual,
    })
}

/// Solves `H x = b` for a symmetric positive-definite `H` (row-major, m×m),
/// adding a small ridge if the factorisation breaks down.
fn cholesky_solve(h: &[f64], b: &[f64], m: usize) -> Option<Vec<f64>> {
    let trace: f64 = (0..m).map(|i| h[i * m + i]).sum();
    for ridge in [0.0, 1e-12, 1e-9, 1e-6] {
        let mut l = vec![0.0; m * m];
        let mut ok = true;
        'rows: for i in 0..m {
            for j in 0..=i {
                let mut s = h[i * m + j] + if i == j { ridge * trace } else { 0.0 };
                for k in 0..j {
                    s -= l[i * m + k] * l[j * m + k];
                }
                if i == j {
                    if s <= 0.0 || !s.is_finite() {
                        ok = false;
                        break 'rows;
                    }
                    l[i * m + i] = s.sqrt();
                } else {
                    l[i * m + j] = s / l[j * m + j];
                }
            }
        }
        if !ok {
            continue;
        }
        let mut y = vec![0.0; m];
        for i in 0..m {
            let s: f64 = (0..i).map(|k| l[i * m + k] * y[k]).sum();
            y[i] = (b[i] - s) / l[i * m + i];
        }
        let mut x = vec![0.0; m];
        for i in (0..m).rev() {
            let s: f64 = (i + 1..m).map(|k| l[k * m + i] * x[k]).sum();
            x[i] = (y[i] - s) / l[i * m + i];
        }
        if x.iter().all(|v| v.is_finite()) {
            return Some(x);
        }
    }
    None
}

/// The CDF of `exp(Σ λ_j T_j)` on a uniform grid (trapezoid rule, normalised).
fn tabulate_cdf(lambda: &[f64]) -> Vec<f64> {
    let mut row = vec![0.0; lambda.len()];
    let step = 2.0 / (CDF_POINTS - 1) as f64;
    let pdf: Vec<f64> = (0..CDF_POINTS)
        .map(|i| {
            chebyshev_row(-1.0 + step * i as f64, &mut row);
            row.iter().zip(lambda).map(|(t, l)| t * l).sum::<f64>().exp()
        })
        .collect();
    let mut cdf = Vec::with_capacity(CDF_POINTS);
    let mut acc = 0.0;
    cdf.push(0.0);
    for w in pdf.windows(2) {
        acc += 0.5 * (w[0] + w[1]);
        cdf.push(acc);
    }
    cdf.iter_mut().for_each(|c| *c /= acc);
    cdf
}

impl MaxEntDensity {
    /// The `u ∈ [-1, 1]` below which a fraction `p` of the mass lies.
    pub fn inverse_cdf(&self, p: f64) -> f64 {
        let step = 2.0 / (CDF_POINTS - 1) as f64;
        let i = self.cdf.partition_point(|&c| c < p);
        if i == 0 {
            return -1.0;
        }
        if i >= self.cdf.len() {
            return 1.0;
        }
        let (c0, c1) = (self.cdf[i - 1], self.cdf[i]);
        let frac = if c1 > c0 { (p - c0) / (c1 - c0) } else { 0.0 };
        -1.0 + step * ((i - 1) as f64 + frac)
    }
}

/// Chebyshev moments `E[T_1(u)] ..` of `u = (z − center)/half_width`, from raw
/// moments `raw[i] = E[z^(i+1)]`, keeping only the leading ones whose
/// estimated rounding error stays below `max_error`. `magnitude` bounds |z|.
pub fn chebyshev_moments(
    raw: &[f64],
    center: f64,
    half_width: f64,
    magnitude: f64,
    max_error: f64,
) -> Vec<f64> {
    // Relative error assumed for each accumulated power sum.
    const SUM_ERROR: f64 = 1e-13;
    let k = raw.len();
    let power = |i: usize| if i == 0 { 1.0 } else { raw[i - 1] };
    // Scaled power moments E[u^j] and an error bound for each.
    let mut scaled = vec![1.0; k + 1];
    let mut scaled_error = vec![0.0; k + 1];
    let growth = (magnitude + center.abs()) / half_width;
    for j in 1..=k {
        let mut binom = 1.0;
        let mut s = 0.0;
        for i in 0..=j {
            if i > 0 {
                binom = binom * (j - i + 1) as f64 / i as f64;
            }
            s += binom * power(i) * (-center).powi((j - i) as i32);
        }
        scaled[j] = s / half_width.powi(j as i32);
        scaled_error[j] = SUM_ERROR * growth.powi(j as i32);
    }
    // T_j coefficients by the recurrence T_{j+1} = 2u T_j − T_{j−1}.
    let mut prev = vec![0.0; k + 2];
    let mut cur = vec![0.0; k + 2];
    prev[0] = 1.0;
    cur[1] = 1.0;
    let mut out = Vec::with_capacity(k);
    for j in 1..=k {
        if j > 1 {
            let mut next = vec![0.0; k + 2];
            for i in 0..=j {
                next[i] = if i > 0 { 2.0 * cur[i - 1] } else { 0.0 } - prev[i];
            }
            prev = std::mem::replace(&mut cur, next);
        }
        let value: f64 = (0..=j).map(|i| cur[i] * scaled[i]).sum();
        let error: f64 = (0..=j).map(|i| cur[i].abs() * scaled_error[i]).sum();
        if !(value.is_finite() && error <= max_error && value.abs() <= 1.0 + max_error) {
            break;
        }
        out.push(value.clamp(-1.0, 1.0));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clenshaw_curtis_integrates_polynomials() {
        let q = clenshaw_curtis(QUAD_ORDER);
        let total: f64 = q.weights.iter().sum();
        assert!((total - 2.0).abs() < 1e-12);
        let x2: f64 = q.nodes.iter().zip(&q.weights).map(|(x, w)| w * x * x).sum();
        assert!((x2 - 2.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn no_constraints_give_the_uniform_density() {
        let d = solve(&[]).expect("uniform");
        assert!((d.inverse_cdf(0.25) + 0.5).abs() < 1e-3);
    }

    #[test]
    fn chebyshev_moments_of_a_uniform_sample() {
        // z uniform on [0, 2]: u uniform on [-1, 1], E[T_1] = 0, E[T_2] = -1/3.
        let raw: Vec<f64> = (1..=4).map(|i| 2f64.powi(i) / (i as f64 + 1.0)).collect();
        let mu = chebyshev_moments(&raw, 1.0, 1.0, 2.0, 1e-6);
        assert_eq!(mu.len(), 4);
        assert!(mu[0].abs() < 1e-12);
        assert!((mu[1] + 1.0 / 3.0).abs() < 1e-12);
    }
}

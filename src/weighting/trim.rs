//! Trimming: a cap at k × the ICS mean weight, the excess shared equally
//! among the others (as R's `trimWeights(strict = TRUE)` does, units at the
//! cap included), then re-raking, repeated until both the cap and the
//! margins hold.

/// R's `trimWeights(upper = cap, strict = TRUE)` on one ICS: total preserved.
pub fn trim_to_cap(weights: &mut [f64], cap: f64) {
    loop {
        let outside = weights.iter().filter(|&&w| w > cap).count();
        if outside == 0 || outside == weights.len() {
            return;
        }
        let excess: f64 = weights.iter().filter(|&&w| w > cap).map(|w| w - cap).sum();
        let share = excess / (weights.len() - outside) as f64;
        for w in weights.iter_mut() {
            if *w > cap {
                *w = cap;
            } else {
                *w += share;
            }
        }
    }
}

pub fn mean(weights: &[f64]) -> f64 {
    weights.iter().sum::<f64>() / weights.len().max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excess_is_shared_and_the_total_kept() {
        let mut w = vec![1.0, 1.0, 1.0, 10.0];
        let cap = 2.0 * mean(&w);
        trim_to_cap(&mut w, cap);
        assert!((w.iter().sum::<f64>() - 13.0).abs() < 1e-12);
        assert!(w.iter().all(|&x| x <= cap));
        assert_eq!(w[3], cap);
    }
}

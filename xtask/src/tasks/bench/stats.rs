//! Arithmetic on the figures: medians and ranges over boots, rates, and the units they are
//! written in.

pub(super) const MIB: u64 = 1024 * 1024;

pub(super) fn median(values: &[f64]) -> Option<f64> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2]),
        _ => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}

pub(super) fn min(values: &[f64]) -> Option<f64> {
    values.iter().copied().min_by(f64::total_cmp)
}

pub(super) fn max(values: &[f64]) -> Option<f64> {
    values.iter().copied().max_by(f64::total_cmp)
}

pub(super) fn fmt_opt(v: Option<f64>) -> String {
    v.map_or("-".to_owned(), |x| format!("{x:.2}"))
}

/// Image bytes over seconds, in MB/s (10^6 bytes, as link rates are given).
pub(super) fn mb_per_s(bytes: u64, seconds: f64) -> Option<f64> {
    (seconds > 0.0).then(|| bytes as f64 / 1e6 / seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_rates() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
        assert_eq!(mb_per_s(100_000_000, 2.0), Some(50.0));
        assert_eq!(mb_per_s(1, 0.0), None);
    }
}

//! The sign-in rate limit. Failures are counted in the database (so the
//! limit holds across instances) per account and per client address over a
//! sliding window; this module only decides.

use chrono::Duration;

/// How many failed sign-ins are allowed within `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignInLimits {
    /// Per typed email, whether or not an account has it: guessing one
    /// person's password stops here.
    pub per_account: u32,
    /// Per client address: trying many accounts from one place stops here.
    pub per_address: u32,
    pub window: Duration,
}

impl Default for SignInLimits {
    fn default() -> Self {
        SignInLimits { per_account: 5, per_address: 20, window: Duration::minutes(15) }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// No password is checked, right or wrong: the same answer whether the
    /// account exists or not.
    Block,
}

/// Whether another attempt may be checked, given the failures already
/// counted in the window.
pub fn decide(limits: &SignInLimits, account_failures: i64, address_failures: i64) -> Decision {
    if account_failures >= i64::from(limits.per_account) || address_failures >= i64::from(limits.per_address) {
        Decision::Block
    } else {
        Decision::Allow
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_at_either_limit() {
        let limits = SignInLimits { per_account: 5, per_address: 20, window: Duration::minutes(15) };
        assert_eq!(decide(&limits, 4, 19), Decision::Allow);
        assert_eq!(decide(&limits, 5, 0), Decision::Block);
        assert_eq!(decide(&limits, 0, 20), Decision::Block);
    }
}

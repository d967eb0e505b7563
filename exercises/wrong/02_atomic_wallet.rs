//! Exercise 2, a plausible wrong answer: a compare-and-swap without its retry loop. When the
//! other deposit changed the balance first, the swap fails, and the deposit is silently dropped.

use kit::pause;
use kit::sync::atomic::{AtomicI64, Ordering};

pub struct Wallet {
    balance: AtomicI64,
}

impl kit::wallet::Wallet for Wallet {
    fn new(balance: i64) -> Wallet {
        Wallet {
            balance: AtomicI64::new(balance),
        }
    }

    fn deposit(&self, amount: i64) {
        let seen = self.balance.load(Ordering::SeqCst);
        pause();
        let _ =
            self.balance
                .compare_exchange(seen, seen + amount, Ordering::SeqCst, Ordering::SeqCst);
    }

    fn balance(&self) -> i64 {
        self.balance.load(Ordering::SeqCst)
    }
}

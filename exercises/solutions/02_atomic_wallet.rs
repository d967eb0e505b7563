//! Exercise 2, the reference solution: one `fetch_add`, an update no other thread can split.

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
        self.balance.fetch_add(amount, Ordering::SeqCst);
    }

    fn balance(&self) -> i64 {
        self.balance.load(Ordering::SeqCst)
    }
}

//! Exercise 1, the reference solution: the read, the pause and the write under one lock.

use kit::pause;
use kit::sync::Mutex;

pub struct Wallet {
    balance: Mutex<i64>,
}

impl kit::wallet::Wallet for Wallet {
    fn new(balance: i64) -> Wallet {
        Wallet {
            balance: Mutex::new(balance),
        }
    }

    fn deposit(&self, amount: i64) {
        let mut balance = self.balance.lock().unwrap();
        let seen = *balance;
        pause();
        *balance = seen + amount;
    }

    fn balance(&self) -> i64 {
        *self.balance.lock().unwrap()
    }
}

//! Exercise 1, a plausible wrong answer: a lock to read and another to write. Each step is
//! safe, the deposit is not: another deposit fits between the two locks.

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
        let seen = *self.balance.lock().unwrap();
        pause();
        *self.balance.lock().unwrap() = seen + amount;
    }

    fn balance(&self) -> i64 {
        *self.balance.lock().unwrap()
    }
}

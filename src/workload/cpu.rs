//! The cpu workload: a job that only computes, to show what parallelism buys.
//!
//! Job i runs a 64-bit linear congruential generator for `cost` million steps from a seed derived
//! from i. Each step depends on the one before, so the work cannot be vectorised or skipped, and
//! `black_box` keeps the compiler from folding the loop. The result is still cheap to check: an
//! LCG can jump ahead n steps in O(log n) by composing the affine map with itself (the same trick
//! as fast exponentiation), so every job verifies its own answer, whatever strategy ran it, even
//! in a forked child that can only report an exit status.

use std::hint::black_box;

const A: u64 = 6364136223846793005;
const C: u64 = 1442695040888963407;
/// Steps per unit of `--cost`.
pub const STEPS_PER_UNIT: u64 = 1_000_000;

fn seed(i: u64) -> u64 {
    i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xC0FF_EE00
}

/// Step the generator `steps` times, one step at a time (the work).
pub fn grind(mut x: u64, steps: u64) -> u64 {
    for _ in 0..steps {
        x = black_box(x.wrapping_mul(A).wrapping_add(C));
    }
    x
}

/// The state after `steps` steps, computed in O(log steps) (the check).
pub fn jump(x: u64, mut steps: u64) -> u64 {
    // (mul, add) is the affine map x -> mul*x + add; square it while walking the bits of steps.
    let (mut mul, mut add) = (1u64, 0u64);
    let (mut m, mut a) = (A, C);
    while steps > 0 {
        if steps & 1 == 1 {
            mul = mul.wrapping_mul(m);
            add = add.wrapping_mul(m).wrapping_add(a);
        }
        a = a.wrapping_mul(m).wrapping_add(a);
        m = m.wrapping_mul(m);
        steps >>= 1;
    }
    mul.wrapping_mul(x).wrapping_add(add)
}

/// One cpu job: grind `cost` million steps and check the result against the jump-ahead.
pub fn perform(i: u64, cost: u64) -> Result<u64, String> {
    let steps = cost * STEPS_PER_UNIT;
    let got = grind(seed(i), steps);
    let want = jump(seed(i), steps);
    if got == want {
        Ok(got)
    } else {
        Err(format!("computed {got:#x}, expected {want:#x}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jump_ahead_matches_stepping() {
        for steps in [0, 1, 2, 3, 1000, 12345] {
            assert_eq!(jump(seed(7), steps), grind(seed(7), steps), "{steps}");
        }
    }

    #[test]
    fn a_job_checks_itself() {
        assert!(perform(3, 1).is_ok());
    }
}

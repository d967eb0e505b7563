//! One colour per strategy, the same in every figure and on the terminal.
//!
//! Why fixed per strategy, not per position in a chart: a reader learns "fork is red" from the
//! first figure and should not have to learn it again from the next, nor find `threads` orange
//! in one chart and `sqlite-fork` orange in another because one strategy was skipped. So the
//! colour belongs to the strategy's place in the registry (the strategies, then the presets),
//! and no two share one: 16 colours for 12 strategies and 4 presets, each pair at least 28
//! apart in CIELAB ΔE (clearly different at a glance; a test checks it), none too dark for a
//! dark terminal nor too pale for white paper.

use crate::strategy::{presets::PRESETS, StrategyInfo, STRATEGIES};
use crate::sys::style::Rgb;

/// In registry order: the 12 strategies, then the 4 presets.
const COLOURS: [Rgb; 16] = [
    Rgb(0x7f, 0x7f, 0x7f), // sequential: grey, the baseline
    Rgb(0xff, 0x7f, 0x0e), // threads: orange
    Rgb(0x2c, 0xa0, 0x2c), // pool: green
    Rgb(0x17, 0xbe, 0xcf), // rayon: cyan
    Rgb(0x6a, 0x3d, 0x9a), // actors: purple
    Rgb(0xf7, 0x81, 0xbf), // futures: pink
    Rgb(0xd6, 0x27, 0x28), // fork: red
    Rgb(0x8c, 0x56, 0x4b), // prefork: brown
    Rgb(0x1f, 0x77, 0xb4), // rpc: blue
    Rgb(0xd4, 0xa6, 0x00), // redis: gold
    Rgb(0xae, 0xc7, 0xe8), // sqlite: light blue
    Rgb(0xc5, 0x1b, 0x8a), // sqlite-fork: magenta
    Rgb(0x9b, 0x1b, 0x30), // resque: crimson
    Rgb(0x8d, 0xb6, 0x00), // sidekiq: lime
    Rgb(0x00, 0xc0, 0x8b), // delayed-job: sea green
    Rgb(0xff, 0x98, 0x96), // sucker-punch: salmon
];

/// The colour of the strategy or preset called `name` (grey for a name not in the registry).
pub fn colour(name: &str) -> Rgb {
    STRATEGIES
        .iter()
        .chain(PRESETS)
        .position(|s| s.name == name)
        .and_then(|i| COLOURS.get(i).copied())
        .unwrap_or(COLOURS[0])
}

/// [`colour`] of a strategy.
pub fn of(info: &StrategyInfo) -> Rgb {
    colour(info.name)
}

/// The colour as plotters takes it.
pub fn plotters(name: &str) -> plotters::style::RGBColor {
    let Rgb(r, g, b) = colour(name);
    plotters::style::RGBColor(r, g, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// CIELAB (D65) of an sRGB colour.
    fn lab(c: Rgb) -> [f64; 3] {
        let lin = |u: u8| {
            let u = f64::from(u) / 255.0;
            if u > 0.04045 {
                ((u + 0.055) / 1.055).powf(2.4)
            } else {
                u / 12.92
            }
        };
        let (r, g, b) = (lin(c.0), lin(c.1), lin(c.2));
        let x = (r * 0.4124 + g * 0.3576 + b * 0.1805) / 0.95047;
        let y = r * 0.2126 + g * 0.7152 + b * 0.0722;
        let z = (r * 0.0193 + g * 0.1192 + b * 0.9505) / 1.08883;
        let f = |t: f64| {
            if t > 0.008856 {
                t.cbrt()
            } else {
                7.787 * t + 16.0 / 116.0
            }
        };
        [
            116.0 * f(y) - 16.0,
            500.0 * (f(x) - f(y)),
            200.0 * (f(y) - f(z)),
        ]
    }

    #[test]
    fn every_strategy_and_preset_has_its_own_colour() {
        let names: Vec<&str> = STRATEGIES.iter().chain(PRESETS).map(|s| s.name).collect();
        assert_eq!(names.len(), COLOURS.len(), "a colour for each, no reuse");
        for (i, a) in names.iter().enumerate() {
            for b in &names[i + 1..] {
                let (la, lb) = (lab(colour(a)), lab(colour(b)));
                let d =
                    ((la[0] - lb[0]).powi(2) + (la[1] - lb[1]).powi(2) + (la[2] - lb[2]).powi(2))
                        .sqrt();
                assert!(d >= 28.0, "{a} and {b} look alike (ΔE {d:.1})");
            }
        }
        for n in &names {
            let l = lab(colour(n))[0];
            assert!((30.0..=85.0).contains(&l), "{n}: lightness {l:.0}");
        }
    }
}

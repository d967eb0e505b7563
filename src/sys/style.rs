//! Colour on a terminal, and none anywhere else.
//!
//! Whether to colour is decided the way `NO_COLOR` (no-color.org) and `CLICOLOR_FORCE` ask, by
//! anstream, the crate clap itself colours its help with: `NO_COLOR` set (to anything but "")
//! means no escape code at all, even on a terminal; `CLICOLOR_FORCE` means colour even into a
//! pipe; otherwise colour only where the stream is a terminal that supports it. Every place that
//! writes an escape code asks here first, so one setting governs concur's whole output.

use std::io::IsTerminal;

/// A colour as red, green, blue: the same value an SVG figure fills with.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct Rgb(pub u8, pub u8, pub u8);

impl Rgb {
    /// `#1f77b4`, for SVG and HTML.
    pub fn hex(self) -> String {
        format!("#{:02x}{:02x}{:02x}", self.0, self.1, self.2)
    }
}

/// May stdout carry colour (escape codes)?
pub fn stdout_colour() -> bool {
    anstream::AutoStream::choice(&std::io::stdout()) != anstream::ColorChoice::Never
}

/// May stderr carry colour (escape codes)?
pub fn stderr_colour() -> bool {
    anstream::AutoStream::choice(&std::io::stderr()) != anstream::ColorChoice::Never
}

/// Is stdout a terminal that should be styled: a terminal, and colour not turned off? (Rich text
/// such as termimad's wants both: off a terminal it should write plain text.)
pub fn stdout_styled() -> bool {
    std::io::stdout().is_terminal() && stdout_colour()
}

/// `text` in the foreground colour `c` (24-bit) when `on`, else `text` unchanged.
pub fn paint(text: &str, c: Rgb, on: bool) -> String {
    if on && !text.is_empty() {
        format!("\x1b[38;2;{};{};{}m{text}\x1b[0m", c.0, c.1, c.2)
    } else {
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paints_only_when_asked() {
        let c = Rgb(31, 119, 180);
        assert_eq!(c.hex(), "#1f77b4");
        assert_eq!(paint("██", c, false), "██");
        assert_eq!(paint("██", c, true), "\x1b[38;2;31;119;180m██\x1b[0m");
        assert_eq!(paint("", c, true), "");
    }
}

//! Plain-text tables for the terminal, laid out by comfy-table.
//!
//! # Why one table renderer
//! concur prints a table from nearly every command (compare, its floors, chaos, race, limits,
//! list). Padded by hand with `{:<10}`, each overflowed the day a strategy was called
//! `sqlite-fork`, and each looked a little different. This wrapper gives them one look: no
//! borders, two spaces between columns, numbers right-aligned, every column as wide as its
//! widest cell (measured in terminal columns, so `µs` and `✓` count as one).
//!
//! # Why the width depends on where the output goes
//! On a terminal a table too wide for the window (`COLUMNS` if set, else the terminal's width)
//! wraps its widest text columns between words, inside the column, instead of the line wrapping
//! across the screen; numbers, names and words are never split, and a table that cannot fit
//! that way is left whole. Off a terminal (a pipe, a file, a test) there is no width to fit:
//! nothing wraps and nothing is cut, so each row stays one line that `grep` and the tests read.
//!
//! # Two things comfy-table has no word for
//! - A *spanning row*: its first cells, then free text that starts where the next column starts
//!   and runs on past the columns (compare's `pool  skipped: needs Redis`, list's
//!   `= redis queue + fork per job` under a preset). It is rendered as a row with a marker in
//!   that next column, and the marker is replaced by the text.
//! - A *line* between rows that belongs to no column (a heading, a note under a row). Every row
//!   is rendered with an invisible separator after it, so a row wrapped over several lines is
//!   still known as one, and the lines go in after it.

use comfy_table::{
    Cell, CellAlignment, ColumnConstraint, ContentArrangement, LineStyle, TableStyle, Width,
};
use std::fmt;
use std::io::IsTerminal;

/// Spaces between two columns.
const GAP: u16 = 2;
/// Marks the cell where a spanning row's free text starts (a private-use character).
const SPAN: char = '\u{E000}';
/// Fills the separator comfy-table draws after the header and after each row.
const BOUNDARY: char = '\u{E001}';

/// One entry of the table, in order.
enum Entry {
    Row(Vec<String>),
    /// Cells, then text from the next column on.
    Span(Vec<String>, String),
    /// A line of its own after the rows before it, printed as given.
    Line(String),
}

/// A table: a header (or none), rows, and lines between them. Left-aligned unless told; on a
/// terminal too narrow for it, any column but the first, the numbers and the `nowrap` ones wraps.
pub struct Table {
    header: Vec<String>,
    right: Vec<usize>,
    nowrap: Vec<usize>,
    indent: usize,
    entries: Vec<Entry>,
}

impl Table {
    /// A table with these column headers. A header may hold `\n` for a second line.
    pub fn new<S: Into<String>>(header: impl IntoIterator<Item = S>) -> Table {
        Table {
            header: header.into_iter().map(Into::into).collect(),
            right: Vec::new(),
            // The first column names the row: a name split over two lines is no name.
            nowrap: vec![0],
            indent: 0,
            entries: Vec::new(),
        }
    }

    /// A table without a header line.
    pub fn headless() -> Table {
        Table::new(Vec::<String>::new())
    }

    /// Right-align these columns (0-based), header included: the numbers. They never wrap
    /// (`13.9\nMiB` would be no number at all).
    pub fn right(mut self, columns: &[usize]) -> Table {
        self.right.extend_from_slice(columns);
        self
    }

    /// Never wrap these columns either (0-based): words a line break would spoil, such as
    /// `none|shared-atomic|shared`. The others share what the terminal's width leaves.
    pub fn nowrap(mut self, columns: &[usize]) -> Table {
        self.nowrap.extend_from_slice(columns);
        self
    }

    /// Start every header and row line with `spaces` spaces (free lines are printed as given).
    pub fn indent(mut self, spaces: usize) -> Table {
        self.indent = spaces;
        self
    }

    /// A row: one cell per column, from the first.
    pub fn row<S: Into<String>>(&mut self, cells: impl IntoIterator<Item = S>) {
        self.entries
            .push(Entry::Row(cells.into_iter().map(Into::into).collect()));
    }

    /// A row of these first cells, then `text` from the next column's start to the line's end.
    pub fn span_row<S: Into<String>>(
        &mut self,
        cells: impl IntoIterator<Item = S>,
        text: impl Into<String>,
    ) {
        let cells = cells.into_iter().map(Into::into).collect();
        self.entries.push(Entry::Span(cells, text.into()));
    }

    /// A line of free text after the rows so far.
    pub fn line(&mut self, text: impl Into<String>) {
        self.entries.push(Entry::Line(text.into()));
    }

    /// The table, fitted to the terminal's width when stdout is a terminal ([`terminal_width`]).
    pub fn render(&self) -> String {
        self.render_at(terminal_width())
    }

    /// The table fitted to `width` columns, or never wrapped with `None`. Every line ends with a
    /// newline and has no trailing spaces.
    pub fn render_at(&self, width: Option<u16>) -> String {
        let layout = self.layout(width);
        let mut blocks = Blocks::of(&layout);
        let mut out = Out::new(self.indent);
        if !self.header.is_empty() {
            blocks
                .next()
                .into_iter()
                .flatten()
                .for_each(|l| out.table(l));
        }
        for entry in &self.entries {
            match entry {
                Entry::Line(text) => text.split('\n').for_each(|l| out.free(l)),
                Entry::Row(_) => blocks
                    .next()
                    .into_iter()
                    .flatten()
                    .for_each(|l| out.table(l)),
                Entry::Span(_, text) => {
                    for line in blocks.next().into_iter().flatten() {
                        match line.split_once(SPAN) {
                            Some((before, _)) => {
                                let at = self.indent + before.chars().count();
                                let room = width.map(|w| usize::from(w).saturating_sub(at));
                                for (k, part) in wrap_lines(text, room).iter().enumerate() {
                                    let lead = if k == 0 {
                                        before.to_owned()
                                    } else {
                                        " ".repeat(before.chars().count())
                                    };
                                    out.table(&format!("{lead}{part}"));
                                }
                            }
                            None => out.table(line),
                        }
                    }
                }
            }
        }
        out.text
    }

    /// comfy-table's lines: the header and each row, every one followed by a boundary line.
    fn layout(&self, width: Option<u16>) -> Vec<String> {
        let mut t = self.comfy(true, str::to_owned);
        let boundary = LineStyle::none().fill(BOUNDARY);
        t.load_style(
            TableStyle::new()
                .header_separator(boundary)
                .row_separator(boundary),
        );
        t.force_no_tty();
        self.fit(&mut t, width);
        // With no rows after it, comfy-table draws no separator after the last row; add one.
        let mut lines: Vec<String> = t.lines().collect();
        lines.push(BOUNDARY.to_string());
        lines
    }

    /// The comfy-table of the rows (and the header if `header`), each cell's text through `text`.
    fn comfy(&self, header: bool, text: impl Fn(&str) -> String) -> comfy_table::Table {
        let cells =
            |cells: &[String]| -> Vec<Cell> { cells.iter().map(|c| Cell::new(text(c))).collect() };
        let mut t = comfy_table::Table::new();
        if header && !self.header.is_empty() {
            t.set_header(cells(&self.header));
        }
        for entry in &self.entries {
            match entry {
                Entry::Row(row) => {
                    t.add_row(cells(row));
                }
                Entry::Span(row, _) => {
                    let marker = Cell::new(SPAN).set_alignment(CellAlignment::Left);
                    t.add_row(cells(row).into_iter().chain([marker]));
                }
                Entry::Line(_) => {}
            }
        }
        for (i, column) in t.column_iter_mut().enumerate() {
            column.set_padding((0, GAP));
            if self.right.contains(&i) {
                column.set_cell_alignment(CellAlignment::Right);
            }
        }
        t
    }

    /// Fit `t` to `width`. A table that fits keeps its natural widths. One that does not gives
    /// up width from its widest column that can spare it, a character at a time: the numbers and
    /// `nowrap` columns keep their cells whole, the others wrap between words, never inside one,
    /// and so do the headers. If even that does not fit (or there is no width), nothing wraps:
    /// the terminal's own line wrap reads better than a column of single letters.
    fn fit(&self, t: &mut comfy_table::Table, width: Option<u16>) {
        t.set_content_arrangement(ContentArrangement::Disabled);
        let Some(width) = width.map(|w| usize::from(w).saturating_sub(self.indent)) else {
            return;
        };
        // Every column but the last is followed by a gap (lines are trimmed at their end).
        let total = |widths: &[u16]| -> usize {
            widths
                .iter()
                .map(|&w| usize::from(w + GAP))
                .sum::<usize>()
                .saturating_sub(usize::from(GAP))
        };
        let mut widths = t.column_max_content_widths();
        let narrowest = self.narrowest();
        if total(&widths) <= width || total(&narrowest) > width {
            return;
        }
        while total(&widths) > width {
            let widest = (0..widths.len())
                .filter(|&i| widths[i] > narrowest.get(i).copied().unwrap_or(0))
                .max_by_key(|&i| widths[i]);
            match widest {
                Some(i) => widths[i] -= 1,
                None => break,
            }
        }
        for (column, &w) in t.column_iter_mut().zip(&widths) {
            column.set_constraint(ColumnConstraint::Absolute(Width::Fixed(w + GAP)));
        }
    }

    /// How narrow each column may get: its longest header word, and its longest cell if it is
    /// kept whole, else its longest word (all measured by comfy-table, a word a line per cell).
    fn narrowest(&self) -> Vec<u16> {
        let words = |c: &str| c.split_whitespace().collect::<Vec<_>>().join("\n");
        let mut header = comfy_table::Table::new();
        header.set_header(self.header.iter().map(|h| Cell::new(words(h))));
        let header = header.column_max_content_widths();
        let whole = self.comfy(false, str::to_owned).column_max_content_widths();
        let split = self.comfy(false, words).column_max_content_widths();
        let at = |widths: &[u16], i: usize| widths.get(i).copied().unwrap_or(0);
        (0..whole.len().max(header.len()))
            .map(|i| {
                let keep = self.right.contains(&i) || self.nowrap.contains(&i);
                let cells = if keep { at(&whole, i) } else { at(&split, i) };
                cells.max(at(&header, i))
            })
            .collect()
    }
}

/// The text being written: table lines indented, free lines as given, no trailing spaces.
struct Out {
    indent: String,
    text: String,
}

impl Out {
    fn new(indent: usize) -> Out {
        Out {
            indent: " ".repeat(indent),
            text: String::new(),
        }
    }

    fn table(&mut self, line: &str) {
        let line = line.trim_end();
        if !line.is_empty() {
            self.text.push_str(&self.indent);
        }
        self.free(line);
    }

    fn free(&mut self, line: &str) {
        self.text.push_str(line.trim_end());
        self.text.push('\n');
    }
}

/// The lines of comfy-table's output, split at the boundaries: the header's, then each row's.
struct Blocks<'a> {
    lines: std::slice::Iter<'a, String>,
}

impl<'a> Blocks<'a> {
    fn of(lines: &'a [String]) -> Blocks<'a> {
        Blocks {
            lines: lines.iter(),
        }
    }
}

impl<'a> Iterator for Blocks<'a> {
    type Item = Vec<&'a str>;

    fn next(&mut self) -> Option<Vec<&'a str>> {
        let mut block = Vec::new();
        for line in self.lines.by_ref() {
            if line.contains(BOUNDARY) {
                return Some(block);
            }
            block.push(line.as_str());
        }
        None
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

/// The width a table on stdout should fit: `COLUMNS` when set (on a terminal or not: asked
/// for, it is meant), else the terminal's, and `None` when stdout is not a terminal (then
/// nothing wraps).
pub fn terminal_width() -> Option<u16> {
    let columns = std::env::var("COLUMNS").ok();
    let asked = columns
        .and_then(|c| c.trim().parse::<u16>().ok())
        .filter(|&w| w > 0);
    if asked.is_some() {
        return asked;
    }
    if !std::io::stdout().is_terminal() {
        return None;
    }
    comfy_table::Table::new().width()
}

/// `text` broken between words into lines of at most `width` characters (a word longer than
/// that gets a line of its own); one line, as given, without a width. Never empty.
pub fn wrap_lines(text: &str, width: Option<usize>) -> Vec<String> {
    let Some(width) = width.filter(|&w| w > 0 && text.chars().count() > w) else {
        return vec![text.to_owned()];
    };
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        let len = line.chars().count();
        if len > 0 && len + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    lines.push(line);
    lines
}

/// `text` wrapped to `width` as [`wrap_lines`] does, each line after the first starting with
/// `indent` spaces, every line ending with a newline: a note or a heading printed around a table.
pub fn wrap_words(text: &str, width: Option<u16>, indent: usize) -> String {
    let lead = " ".repeat(indent);
    // Leading spaces are the first line's own indent: kept, and not counted as words.
    let first_indent = text.len() - text.trim_start_matches(' ').len();
    let body = &text[first_indent..];
    let first = wrap_lines(
        body,
        width.map(|w| usize::from(w).saturating_sub(first_indent)),
    );
    let mut out = String::new();
    let Some((head, rest)) = first.split_first() else {
        return out;
    };
    out.push_str(&text[..first_indent]);
    out.push_str(head);
    out.push('\n');
    if rest.is_empty() {
        return out;
    }
    // Wrap what is left again at the narrower width the indent leaves.
    let tail = rest.join(" ");
    let room = width.map(|w| usize::from(w).saturating_sub(indent.max(first_indent)));
    for line in wrap_lines(&tail, room) {
        out.push_str(&lead);
        out.push_str(&line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Table {
        let mut t = Table::new(["STRATEGY", "JOBS/S", "CHECK"]).right(&[1]);
        t.row(["sequential", "9000", "ok"]);
        t.row(["sqlite-fork", "12", "WRONG 1/3"]);
        t.span_row(
            ["pool"],
            "skipped: needs Redis, which is not installed here",
        );
        t
    }

    #[test]
    fn columns_fit_their_widest_cell_and_numbers_align_right() {
        assert_eq!(
            sample().render_at(None),
            "STRATEGY     JOBS/S  CHECK\n\
             sequential     9000  ok\n\
             sqlite-fork      12  WRONG 1/3\n\
             pool         skipped: needs Redis, which is not installed here\n"
        );
    }

    #[test]
    fn without_a_width_nothing_wraps_or_is_cut() {
        let mut t = Table::new(["A", "B"]);
        let long = "word ".repeat(60);
        t.row(["x", long.trim()]);
        let out = t.render_at(None);
        assert_eq!(out.lines().count(), 2, "{out}");
        assert!(out.contains(long.trim()));
    }

    #[test]
    fn with_a_width_wide_cells_wrap_and_rows_stay_together() {
        let mut t = Table::new(["NAME", "ABOUT"]).indent(2);
        t.row([
            "emoji",
            "prints one emoji per job, fifty times, each print its own write",
        ]);
        t.line("  a note under emoji");
        t.row(["noop", "nothing"]);
        let out = t.render_at(Some(40));
        assert!(out.lines().all(|l| l.chars().count() <= 40), "{out}");
        let lines: Vec<_> = out.lines().collect();
        let note = lines.iter().position(|l| l.contains("a note")).unwrap();
        let noop = lines.iter().position(|l| l.contains("noop")).unwrap();
        assert!(note > 2 && noop == note + 1, "{out}");
        assert!(lines[1].starts_with("  emoji"), "{out}");
    }

    #[test]
    fn numbers_and_nowrap_columns_keep_their_width() {
        let mut t = Table::new(["NAME", "SYNC", "RSS", "ABOUT"])
            .right(&[2])
            .nowrap(&[1]);
        t.row([
            "fork",
            "none|shared-atomic|shared",
            "13.9 MiB",
            "a fork per job, at most N",
        ]);
        let out = t.render_at(Some(50));
        assert!(out.contains("none|shared-atomic|shared  13.9 MiB"), "{out}");
    }

    #[test]
    fn words_are_never_split_and_a_table_too_wide_for_that_does_not_wrap() {
        let mut t = Table::new(["STRATEGY", "RSS", "MEMORY", "CRASH"]).right(&[1]);
        t.row(["sequential", "13.9 MiB", "shared", "no"]);
        t.row(["sqlite-fork", "48.1 MiB", "isolated memory", "yes"]);
        let wide = t.render_at(None);
        let fits = t.render_at(Some(44));
        assert!(fits.lines().all(|l| l.chars().count() <= 44), "{fits}");
        assert!(
            fits.contains("isolated") && !fits.contains("isolated memory"),
            "{fits}"
        );
        assert_eq!(
            t.render_at(Some(30)),
            wide,
            "no room even between words: no wrap"
        );
    }

    #[test]
    fn headless_tables_and_indents() {
        let mut t = Table::headless().indent(2).right(&[1]);
        t.row(["fork+_exit+waitpid", "120.0 µs", "(1 - 2)"]);
        t.span_row(["parked thread", "8.0 KiB"], "RSS per parked thread");
        t.line("  skipped: redis");
        assert_eq!(
            t.render_at(None),
            "  fork+_exit+waitpid  120.0 µs  (1 - 2)\n\
             \x20 parked thread        8.0 KiB  RSS per parked thread\n\
             \x20 skipped: redis\n"
        );
    }

    #[test]
    fn words_wrap_to_a_width_with_an_indent() {
        assert_eq!(wrap_words("a b c", None, 2), "a b c\n");
        assert_eq!(
            wrap_words("aaa bbb ccc ddd", Some(8), 2),
            "aaa bbb\n  ccc\n  ddd\n"
        );
        assert_eq!(wrap_words("  aa bb cc", Some(7), 4), "  aa bb\n    cc\n");
        assert_eq!(wrap_lines("x", Some(0)), ["x"]);
        let long = "word ".repeat(40);
        let out = wrap_words(long.trim(), Some(30), 4);
        assert!(out.lines().all(|l| l.chars().count() <= 30), "{out}");
        assert_eq!(out.split_whitespace().count(), 40);
    }

    #[test]
    fn spanning_text_wraps_under_its_start() {
        let mut t = Table::new(["NAME", "N"]);
        t.row(["sequential", "1"]);
        t.span_row(
            ["pool"],
            "skipped: needs Redis, which is not installed here at all",
        );
        let out = t.render_at(Some(30));
        assert!(out.lines().all(|l| l.chars().count() <= 30), "{out}");
        assert!(out.contains("pool        skipped: needs"), "{out}");
        assert!(
            out.lines().nth(3).unwrap().starts_with("            "),
            "{out}"
        );
    }

    #[test]
    fn two_line_headers_and_empty_tables() {
        let t = Table::new(["STRATEGY", "SURVIVES\nCRASH"]);
        assert_eq!(t.render_at(None), "STRATEGY  SURVIVES\n          CRASH\n");
    }
}

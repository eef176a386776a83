//! Diagnostics and their rendering in the style of rustc:
//!
//! ```text
//! error: expected `;`, found identifier `y`
//!  --> script.daph:1:6
//!   |
//! 1 | x = 1
//!   |      ^ expected `;`
//! ```

use std::fmt::Write;

use crate::span::{SourceFile, Span};

/// Lines longer than this many characters are quoted only around the problem.
const MAX_SHOWN: usize = 100;

/// One problem found in a script, located by a byte span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The headline, after `error: `.
    pub message: String,
    /// Where the problem is; underlined in the rendering.
    pub span: Span,
    /// The text next to the underline; may be empty.
    pub label: String,
    /// Extra lines rendered as `= note: ...`.
    pub notes: Vec<String>,
    /// Further places that explain the problem, each with its label.
    pub secondary: Vec<(Span, String)>,
    /// What the user might do instead, rendered as `= help: ...` after the notes.
    pub helps: Vec<String>,
}

impl Diagnostic {
    pub fn error(message: impl Into<String>, span: Span) -> Diagnostic {
        Diagnostic {
            message: message.into(),
            span,
            label: String::new(),
            notes: Vec::new(),
            secondary: Vec::new(),
            helps: Vec::new(),
        }
    }

    pub fn with_label(mut self, label: impl Into<String>) -> Diagnostic {
        self.label = label.into();
        self
    }

    pub fn with_note(mut self, note: impl Into<String>) -> Diagnostic {
        self.notes.push(note.into());
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.helps.push(help.into());
        self
    }

    /// Adds a second location, underlined with `-` below the main one.
    pub fn with_secondary(mut self, span: Span, label: impl Into<String>) -> Diagnostic {
        self.secondary.push((span, label.into()));
        self
    }

    /// Renders the diagnostic against the file it points into. Tabs in the quoted line are
    /// shown as four spaces so that the underline stays aligned.
    pub fn render(&self, file: &SourceFile) -> String {
        let start = file.line_col(self.span.start);
        // The gutter is as wide as the widest line number shown.
        let widest = std::iter::once(self.span)
            .chain(self.secondary.iter().map(|(s, _)| *s))
            .map(|s| file.line_col(s.start).line.to_string().len())
            .max()
            .unwrap_or(1);
        let pad = " ".repeat(widest);

        let mut out = String::new();
        let _ = writeln!(out, "error: {}", self.message);
        let _ = writeln!(out, "{pad}--> {}:{}:{}", file.name, start.line, start.col);
        let _ = writeln!(out, "{pad} |");
        // Secondary labels on the primary line share its quote; others get their own.
        let line_of = |span: Span| file.line_col(span.start).line;
        let mut marks = vec![(self.span, '^', self.label.as_str())];
        marks.extend(
            self.secondary.iter().filter(|(s, _)| line_of(*s) == start.line).map(|(s, l)| (*s, '-', l.as_str())),
        );
        snippet(&mut out, file, &marks, widest);
        for (span, label) in self.secondary.iter().filter(|(s, _)| line_of(*s) != start.line) {
            let _ = writeln!(out, "{pad} |");
            snippet(&mut out, file, &[(*span, '-', label.as_str())], widest);
        }
        for note in &self.notes {
            let _ = writeln!(out, "{pad} = note: {note}");
        }
        for help in &self.helps {
            let _ = writeln!(out, "{pad} = help: {help}");
        }
        out
    }
}

/// Writes the line holding the first mark's span, then one underline row per mark: `mark`
/// characters under the span with its label after. An underline runs to the span's end, or to
/// the end of the line when the span goes on; it has at least one mark (also at the end of
/// the file). All marks must lie on the same line.
fn snippet(out: &mut String, file: &SourceFile, marks: &[(Span, char, &str)], gutter: usize) {
    let Some(&(first_span, _, _)) = marks.first() else { return };
    let line = file.line_col(first_span.start).line;
    let chars: Vec<char> = file.line_text(line).chars().collect();
    let first = file.line_col(first_span.start).col - 1;
    // Long lines are shown as a window around the start of the first span.
    let (from, to) = if chars.len() > MAX_SHOWN {
        let from = first.saturating_sub(MAX_SHOWN / 3);
        (from, (from + MAX_SHOWN).min(chars.len()))
    } else {
        (0, chars.len())
    };
    let width_of = |c: &char| if *c == '\t' { 4 } else { 1 };
    let prefix = if from > 0 { "..." } else { "" };
    let suffix = if to < chars.len() { "..." } else { "" };
    let shown: String =
        chars[from..to].iter().map(|&c| if c == '\t' { "    ".to_owned() } else { c.to_string() }).collect();
    let pad = " ".repeat(gutter);
    let _ = writeln!(out, "{line:>gutter$} | {prefix}{shown}{suffix}");
    for &(span, mark, label) in marks {
        let (start, end) = (file.line_col(span.start), file.line_col(span.end.max(span.start)));
        let (lo, hi) = (start.col - 1, if end.line == start.line { end.col - 1 } else { chars.len() });
        let lead = prefix.len() + chars[from..lo.clamp(from, to)].iter().map(width_of).sum::<usize>();
        let marked: usize = chars[lo.clamp(from, to)..hi.clamp(from, to)].iter().map(width_of).sum();
        let marks = mark.to_string().repeat(marked.max(1));
        let label = if label.is_empty() { String::new() } else { format!(" {label}") };
        let _ = writeln!(out, "{pad} | {}{marks}{label}", " ".repeat(lead));
    }
}

/// Renders several diagnostics, separated by blank lines, followed by a summary line when
/// there are errors, as rustc does.
pub fn render_all(diagnostics: &[Diagnostic], file: &SourceFile) -> String {
    let mut out = String::new();
    for d in diagnostics {
        out.push_str(&d.render(file));
        out.push('\n');
    }
    match diagnostics.len() {
        0 => {}
        1 => {
            let _ = writeln!(out, "error: aborting due to 1 previous error");
        }
        n => {
            let _ = writeln!(out, "error: aborting due to {n} previous errors");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(src: &str, span: Span, label: &str) -> String {
        Diagnostic::error("msg", span).with_label(label).render(&SourceFile::new("f.daph", src))
    }

    #[test]
    fn underline_covers_the_span() {
        let out = render("x = foo(1);\n", Span::new(4, 7), "here");
        assert_eq!(out, "error: msg\n --> f.daph:1:5\n  |\n1 | x = foo(1);\n  |     ^^^ here\n");
    }

    #[test]
    fn tabs_and_wide_characters_keep_the_underline_aligned() {
        let out = render("\tä = 1§;\n", Span::new("\tä = 1".len(), "\tä = 1§".len()), "");
        assert!(out.contains("1 |     ä = 1§;\n  |          ^\n"), "{out}");
    }

    #[test]
    fn end_of_file_gets_one_caret() {
        let out = render("x = 1", Span::new(5, 5), "expected `;`");
        assert!(out.contains("1 | x = 1\n  |      ^ expected `;`\n"), "{out}");
    }

    #[test]
    fn secondary_labels_on_the_same_line_share_the_quote() {
        let d = Diagnostic::error("msg", Span::new(8, 9)).with_label("main").with_secondary(Span::new(4, 5), "other");
        let out = d.render(&SourceFile::new("f.daph", "y = (x ;\n"));
        assert!(out.ends_with("1 | y = (x ;\n  |         ^ main\n  |     - other\n"), "{out}");
    }

    #[test]
    fn helps_follow_the_notes() {
        let d = Diagnostic::error("msg", Span::new(0, 1)).with_help("try this").with_note("because");
        let out = d.render(&SourceFile::new("f.daph", "x\n"));
        assert!(out.ends_with("  = note: because\n  = help: try this\n"), "{out}");
    }

    #[test]
    fn the_gutter_fits_the_widest_line_number() {
        let src = format!("{}x\n", "\n".repeat(11));
        let out = render(&src, Span::new(11, 12), "");
        assert!(out.contains("  --> f.daph:12:1\n   |\n12 | x\n   | ^\n"), "{out}");
    }
}

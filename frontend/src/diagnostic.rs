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
}

impl Diagnostic {
    pub fn error(message: impl Into<String>, span: Span) -> Diagnostic {
        Diagnostic { message: message.into(), span, label: String::new(), notes: Vec::new() }
    }

    pub fn with_label(mut self, label: impl Into<String>) -> Diagnostic {
        self.label = label.into();
        self
    }

    pub fn with_note(mut self, note: impl Into<String>) -> Diagnostic {
        self.notes.push(note.into());
        self
    }

    /// Renders the diagnostic against the file it points into. Tabs in the quoted line are
    /// shown as four spaces so that the underline stays aligned.
    pub fn render(&self, file: &SourceFile) -> String {
        let start = file.line_col(self.span.start);
        let end = file.line_col(self.span.end.max(self.span.start));
        let line_no = start.line.to_string();
        let pad = " ".repeat(line_no.len());
        let line = file.line_text(start.line);

        // Underline from the start column to the end column when the span stays on one line,
        // else to the end of the line; at least one caret (also for the end of the file).
        let chars: Vec<char> = line.chars().collect();
        let last_col = if end.line == start.line { end.col } else { chars.len() + 1 };
        let width_of = |c: char| if c == '\t' { 4 } else { 1 };
        let lead: usize = chars.iter().take(start.col - 1).map(|&c| width_of(c)).sum();
        let marked: usize =
            chars.iter().skip(start.col - 1).take(last_col.saturating_sub(start.col)).map(|&c| width_of(c)).sum();
        let shown = line.replace('\t', "    ");

        let mut out = String::new();
        let _ = writeln!(out, "error: {}", self.message);
        let _ = writeln!(out, "{pad}--> {}:{}:{}", file.name, start.line, start.col);
        let _ = writeln!(out, "{pad} |");
        let _ = writeln!(out, "{line_no} | {shown}");
        let carets = "^".repeat(marked.max(1));
        let label = if self.label.is_empty() { String::new() } else { format!(" {}", self.label) };
        let _ = writeln!(out, "{pad} | {}{carets}{label}", " ".repeat(lead));
        for note in &self.notes {
            let _ = writeln!(out, "{pad} = note: {note}");
        }
        out
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

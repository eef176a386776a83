//! A session of entries run one after another with their variables kept: `daphne`'s
//! interactive mode.
//!
//! Each entry is compiled alone against the values the session holds: `main` takes the
//! variables of earlier entries as parameters (typed by their values, so shapes are known)
//! and returns the variables that exist at its end, which the session keeps for the next
//! entry. Nothing is run twice. Function definitions last: the session's text is every entry
//! that compiled, one after another (so diagnostics count lines across the session), and an
//! entry is compiled with the function definitions of the earlier ones and its own
//! statements. A top-level expression statement with one value prints it.
//!
//! An entry that fails to parse or compile is forgotten; one that fails while running keeps
//! its function definitions, and the variables keep the values they had before it (as the
//! entry ran as a whole or not at all).

use daphne_frontend::SourceFile;
use daphne_frontend::ast::StmtKind;
use daphne_lower::{Program, ScriptArgs};
use daphne_passes::PassManager;
use daphne_runtime::value::Value;

use crate::{Failure, UserConfig};

/// The name diagnostics give the session's text.
pub const SESSION_NAME: &str = "<stdin>";

/// The state of an interactive session.
pub struct Session {
    /// The entries that compiled, one after another.
    text: String,
    /// The session's variables, by name.
    values: Vec<(String, Value)>,
    args: ScriptArgs,
    config: UserConfig,
    select_matrix_repr: bool,
    passes: PassManager,
}

impl Session {
    /// A session with no variables; `args` are the script arguments (`$name`) every entry sees.
    pub fn new(args: ScriptArgs, config: UserConfig, select_matrix_repr: bool, passes: PassManager) -> Session {
        Session { text: String::new(), values: Vec::new(), args, config, select_matrix_repr, passes }
    }

    /// Compiles and runs one entry, printing to `out` and `err`. A failure leaves the
    /// session's variables as they were.
    pub fn run(
        &mut self,
        entry: &str,
        options: daphne_runtime::exec::Options,
        out: &mut (dyn std::io::Write + Send),
        err: &mut (dyn std::io::Write + Send),
    ) -> Result<(), Failure> {
        let offset = self.text.len();
        let mut text = self.text.clone();
        text.push_str(entry);
        if !entry.ends_with('\n') {
            text.push('\n');
        }
        let file = SourceFile::new(SESSION_NAME.to_owned(), text.clone());
        let mut program: Program = crate::load_program_with(file, &self.config)?;
        program.select_matrix_repr = self.select_matrix_repr;
        // Earlier entries' statements ran already; their function definitions stay, unless a
        // later entry defines the function again (same name and parameter types): the later
        // definition replaces it, as at a Python prompt.
        let mut defined = Vec::new();
        let stmts = std::mem::take(&mut program.scripts[0].stmts);
        let mut kept: Vec<_> = stmts
            .into_iter()
            .rev()
            .filter(|s| match &s.kind {
                StmtKind::FuncDef(f) => {
                    let sig = signature(f);
                    let first = !defined.contains(&sig);
                    defined.push(sig);
                    first
                }
                _ => s.span.start >= offset,
            })
            .collect();
        kept.reverse();
        program.scripts[0].stmts = kept;
        let session = daphne_lower::Session {
            inputs: self.values.iter().map(|(n, v)| (n.clone(), daphne_runtime::kernels::type_of(v))).collect(),
            echo: true,
        };
        let (module, names) = crate::compile_entry(&program, &self.args, Some(&session), &self.passes, &mut |_, _| {})?;
        let inputs = self.values.iter().map(|(_, v)| v.clone()).collect();
        let result = crate::execute_entry(&module, &program.files, options, inputs, out, err);
        // The entry's function definitions stay even when it failed while running.
        self.text = text;
        let values = result?;
        self.values = names.into_iter().zip(values).collect();
        Ok(())
    }
}

/// What makes a function definition another's: its name and its parameters' declared types.
fn signature(f: &daphne_frontend::ast::FuncDef) -> (String, Vec<Option<daphne_frontend::ast::TypeKind>>) {
    (f.name.name.clone(), f.params.iter().map(|p| p.ty.as_ref().map(|t| t.kind)).collect())
}

/// Whether `text` is an unfinished entry: a `{`, `(` or `[` still open, or a string or block
/// comment not closed (the prompt then asks for another line).
pub fn is_open(text: &str) -> bool {
    let mut depth: i64 = 0;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' | '(' | '[' => depth += 1,
            '}' | ')' | ']' => depth -= 1,
            '"' => loop {
                match chars.next() {
                    None => return true,
                    Some('\\') => {
                        chars.next();
                    }
                    Some('"') => break,
                    Some(_) => {}
                }
            },
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut star = false;
                loop {
                    match chars.next() {
                        None => return true,
                        Some('/') if star => break,
                        Some(c) => star = c == '*',
                    }
                }
            }
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '#' => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            _ => {}
        }
    }
    depth > 0
}

/// An entry as typed, made a statement: a missing `;` after a last expression or assignment
/// is added (`x + 1` at the prompt means `x + 1;`).
pub fn complete(entry: &str) -> String {
    let trimmed = entry.trim_end();
    if trimmed.is_empty() || trimmed.ends_with(';') || trimmed.ends_with('}') {
        entry.to_owned()
    } else {
        format!("{trimmed};\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_entries_continue() {
        assert!(is_open("if (x > 1) {"));
        assert!(is_open("def f(a) {\n  return a;"));
        assert!(is_open("print(\"a {\""), "an open parenthesis, not the brace in the string");
        assert!(!is_open("print(\"{\");"));
        assert!(!is_open("x = 1; // {"));
        assert!(is_open("/* {"));
        assert!(!is_open("for (i in 1:3) { print(i); }"));
        assert_eq!(complete("x + 1"), "x + 1;\n");
        assert_eq!(complete("x = 1;"), "x = 1;");
        assert_eq!(complete("if (a) { b = 1; }"), "if (a) { b = 1; }");
    }
}
